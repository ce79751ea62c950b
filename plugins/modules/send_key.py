#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: send_key
short_description: Press keys on a Grandstream phone
version_added: 0.1.0
description:
  - Sends the CTI function C(api-send_key) with every key in one request, joined with C(:).
  - All keys are checked against the known key names before anything is sent; an unknown key fails the task
    and names the key.
  - Pressing keys is not idempotent and the phone does not tell what a key press changed, so the module always
    returns C(changed=true), and in check mode sends no key.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
options:
  keys:
    description:
      - The keys to press, in order.
      - Known keys are the digits V(0) to V(9), V(STAR) (or V(*)), V(POUND) (or V(#)), V(SEND), V(OK), V(UP), V(DOWN),
        V(LEFT), V(RIGHT), V(ONHOOK), V(OFFHOOK), V(LOCK), V(UNLOCK), V(SPEAKER), V(VUP), V(VDOWN), V(MUTE), V(HOLD),
        V(CONF), V(XFER) and V(MPK1), V(MPK2)... (multi-purpose keys). Names are not case-sensitive.
      - An element may hold several keys joined with C(:), the CTI form, for example V(1:2:POUND).
      - There is no C(FLASH) key.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: Check mode checks the key names and reads the phone status (reachable, passcode accepted), and sends no key.
  diff_mode:
    support: none
seealso:
  - module: phonefleet.grandstream.phone_operation
  - module: phonefleet.grandstream.make_call
"""

EXAMPLES = r"""
- name: Lock the keypad
  phonefleet.grandstream.send_key:
    keys: [LOCK]

- name: Dial the voicemail box by hand
  phonefleet.grandstream.send_key:
    keys: ['*', '9', '8', '#', SEND]
"""

RETURN = r"""
key_tokens:
  description: The key names sent (or that would be sent in check mode), normalized.
  returned: success
  type: list
  elements: str
  sample: [STAR, '9', '8', POUND, SEND]
sent:
  description: Whether the keys were sent (false in check mode).
  returned: success
  type: bool
  sample: true
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
    keys=dict(type='list', elements='str', required=True, no_log=False),
)
TASK = cti_tasks.send_key


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
