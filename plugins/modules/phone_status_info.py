#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: phone_status_info
short_description: Read the status of a Grandstream phone (available, busy, ringing...)
version_added: 0.1.0
description:
  - Calls the CTI function C(api-get_phone_status) and returns the status string and the C(misc) field.
  - Status values seen on phones are V(available), V(busy), V(ringing); V(unavailable) means no account is registered,
    older GXP firmware says V(oncall). Unknown values are returned unchanged.
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
  - module: phonefleet.grandstream.line_status_info
  - module: phonefleet.grandstream.accounts_info
"""

EXAMPLES = r"""
- name: Read the phone status
  phonefleet.grandstream.phone_status_info:
  register: phone

- name: Show phones that are not idle
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is {{ phone.status }}"
  when: phone.status != 'available'
"""

RETURN = r"""
status:
  description: The status string the phone reports, unchanged.
  returned: success
  type: str
  sample: available
misc:
  description: The C(misc) field of the answer, as a string (always V(0) in captures so far).
  returned: success
  type: str
  sample: '0'
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
TASK = cti_tasks.phone_status_info


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
