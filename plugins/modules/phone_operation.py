#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: phone_operation
short_description: End, hold, resume, accept, reject or cancel a call on a Grandstream phone
version_added: 0.1.0
description:
  - Sends the CTI function C(api-phone_operation) only when there is something to act on, so that running it twice
    changes nothing the second time.
  - Reads the line status first. When no line is in a state the command acts on (no call to end, nothing ringing,
    the call already on hold...), it sends nothing and returns C(changed=false).
  - Otherwise it sends the command and reads the lines again until the line shows the result (for example V(onhold)
    after V(holdcall)), for up to O(confirm_timeout) seconds. The phone's answer alone proves nothing. When the line
    does not show the result, or the phone acted on another line, the task fails and says what the lines show.
  - Returns the lines before and after (also as a diff).
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
options:
  command:
    description:
      - V(endcall) ends a call that is not ringing (connected, on hold, dialing...).
      - V(holdcall) puts a connected call on hold; V(unholdcall) resumes a call on hold.
      - V(acceptcall) answers and V(rejectcall) rejects a ringing call.
      - V(cancel) cancels an outgoing call that is not answered yet (V(dialing), V(calling)). To refuse a ringing
        call, use V(rejectcall).
    type: str
    required: true
    choices: [endcall, holdcall, unholdcall, acceptcall, rejectcall, cancel]
  line:
    description:
      - Act on this line only (numbered from 1) and send it to the phone with the command.
      - Not every firmware honours the line of C(api-phone_operation); some act on their active line. The module
        checks the line read back, so a command that lands on another line fails instead of reporting success.
      - When omitted, the phone acts on its active line; the module acts when any line is in a matching state.
    type: int
  confirm_timeout:
    description:
      - Seconds to wait for the line to show the result of the command.
    type: float
    default: 3
    version_added: 0.1.1
attributes:
  check_mode:
    support: full
    details: Check mode reads the lines and sends nothing; RV(lines) then shows the predicted state.
  diff_mode:
    support: full
seealso:
  - module: phonefleet.grandstream.line_status_info
  - module: phonefleet.grandstream.make_call
"""

EXAMPLES = r"""
- name: Hang up every phone of the training room
  phonefleet.grandstream.phone_operation:
    command: endcall

- name: Answer the call ringing on line 2
  phonefleet.grandstream.phone_operation:
    command: acceptcall
    line: 2
  register: answered

- name: Show what changed
  ansible.builtin.debug:
    var: answered.lines
  when: answered is changed
"""

RETURN = r"""
command:
  description: The command asked for.
  returned: success
  type: str
  sample: endcall
line:
  description: The line the command acted on (or would act on in check mode); null when there was nothing to do.
  returned: success
  type: int
  sample: 1
lines:
  description:
    - The lines after the command, in the format of M(phonefleet.grandstream.line_status_info).
    - In check mode, the predicted lines; when nothing was done, the lines as read.
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: idle, in_use: false, active: false, account: null, remote_name: '', remote_number: '', conference: false}
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
  description: The lines read before the command, in the same format.
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: connected, in_use: true, active: true, account: 1, remote_name: Reception, remote_number: '2001', conference: false}
msg:
  description: Why nothing was done, or on failure what went wrong.
  returned: when nothing was done, and on failure
  type: str
  sample: 'gs0042 (10.1.4.42): nothing to do for endcall (no line in a matching state).'
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
    command=dict(type='str', required=True, choices=['endcall', 'holdcall', 'unholdcall', 'acceptcall', 'rejectcall', 'cancel']),
    line=dict(type='int'),
    confirm_timeout=dict(type='float', default=3.0),
)
TASK = cti_tasks.phone_operation


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
