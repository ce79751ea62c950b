#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: line_status_info
short_description: Read the line (call) states of a Grandstream phone
version_added: 0.1.0
description:
  - Calls the CTI function C(api-get_line_status) and returns every line, normalized across firmware versions
    (3 or 4 lines, C(acct) as string or integer, optional C(conf)).
  - Any state other than V(idle) means the line is in use; RV(in_use) is true when any line is.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: phonefleet.grandstream.phone_status_info
  - module: phonefleet.grandstream.phone_operation
"""

EXAMPLES = r"""
- name: Read the lines
  phonefleet.grandstream.line_status_info:
  register: phone_lines

- name: Do not disturb phones in a call
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} has a call on line(s) {{ phone_lines.lines | selectattr('in_use') | map(attribute='line') | join(', ') }}"
  when: phone_lines.in_use
"""

RETURN = r"""
lines:
  description: The lines of the phone.
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: connected, in_use: true, active: true, account: 1, remote_name: Reception, remote_number: '2001', conference: false}
    - {line: 2, state: idle, in_use: false, active: false, account: null, remote_name: '', remote_number: '', conference: false}
  contains:
    line:
      description: Line number, starting at 1.
      type: int
      returned: always
      sample: 1
    state:
      description: Line state in lower case, for example V(idle), V(ringing), V(connected), V(onhold), V(dialing), V(calling), V(failed).
      type: str
      returned: always
      sample: connected
    in_use:
      description: True for any state other than V(idle).
      type: bool
      returned: always
      sample: true
    active:
      description: Whether the phone marks the line active.
      type: bool
      returned: always
      sample: true
    account:
      description: Account number the line uses, or null.
      type: int
      returned: always
      sample: 1
    remote_name:
      description: Name of the other party.
      type: str
      returned: always
      sample: Reception
    remote_number:
      description: Number of the other party.
      type: str
      returned: always
      sample: '2001'
    conference:
      description: Whether the line is in a conference (newer firmware; false otherwise).
      type: bool
      returned: always
      sample: false
in_use:
  description: True when any line is in use.
  returned: success
  type: bool
  sample: true
error_class:
  description: On failure, the error class, one of V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error) or V(rejected).
  returned: failure
  type: str
  sample: auth_failed
http_status:
  description: On failure, the HTTP status the phone answered, when it answered.
  returned: failure
  type: int
  sample: 401
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_module

ARGUMENT_SPEC = {}
TASK = cti_tasks.line_status_info


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
