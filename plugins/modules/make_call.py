#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: make_call
short_description: Start a call from a Grandstream phone
version_added: 0.1.0
description:
  - Sends the CTI function C(api-make_call), then reads the line status until a line that was free shows the call
    (dialing, calling, ringing or connected). The phone answering the request proves nothing; the task fails when no
    line shows the call within O(confirm_timeout), or when the line shows the call failed.
  - When the phone shows the remote number of that line, it must be the number called, or a SIP URI of it. So an
    incoming call that starts ringing meanwhile is not taken for the outgoing one.
  - Before calling, the module checks that a line is free (and that O(account) is configured, when given).
  - Each run starts a new call, so the module is not idempotent and always returns C(changed=true).
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
options:
  number:
    description:
      - The number (or SIP URI user part) to call.
    type: str
    required: true
  account:
    description:
      - The account to call from, numbered from 1 as in M(phonefleet.grandstream.accounts_info).
      - When omitted, the phone uses its default account.
    type: int
  confirm_timeout:
    description:
      - Seconds to wait for a line to show the call.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: Check mode reads the lines (and the accounts when O(account) is set) and sends no call.
  diff_mode:
    support: full
seealso:
  - module: phonefleet.grandstream.phone_operation
  - module: phonefleet.grandstream.line_status_info
"""

EXAMPLES = r"""
- name: Call the reception from the lobby phone
  phonefleet.grandstream.make_call:
    number: '2001'
  register: call

- name: Hang up again after the test
  phonefleet.grandstream.phone_operation:
    command: endcall
    line: "{{ call.line }}"

- name: Call from the second account
  phonefleet.grandstream.make_call:
    number: '+3222001234'
    account: 2
    confirm_timeout: 10
"""

RETURN = r"""
number:
  description: The number called.
  returned: success
  type: str
  sample: '2001'
account:
  description: The account asked for, or null.
  returned: success
  type: int
  sample: 1
line:
  description: The line that shows the call; null in check mode.
  returned: success
  type: int
  sample: 1
state:
  description: The state of that line when the call was confirmed, one of V(dialing), V(calling), V(ringing), V(connected); null in check mode.
  returned: success
  type: str
  sample: calling
lines:
  description: The lines after the call started, in the format of M(phonefleet.grandstream.line_status_info); in check mode, as read.
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: calling, in_use: true, active: true, account: 1, remote_name: '', remote_number: '2001', conference: false}
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
lines_before:
  description: The lines read before the call, in the same format.
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: idle, in_use: false, active: false, account: null, remote_name: '', remote_number: '', conference: false}
msg:
  description: One sentence saying what happened, naming the phone.
  returned: always
  type: str
  sample: 'gs0042 (10.1.4.42): calling 2001 on line 1 (calling).'
error_class:
  description: On failure, the error class, one of V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error) or V(rejected).
  returned: failure
  type: str
  sample: rejected
http_status:
  description: On failure, the HTTP status the phone answered, when it answered.
  returned: failure
  type: int
  sample: 401
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_module

ARGUMENT_SPEC = dict(
    number=dict(type='str', required=True),
    account=dict(type='int'),
    confirm_timeout=dict(type='float', default=5.0),
)
TASK = cti_tasks.make_call


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
