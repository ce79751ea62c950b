#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: device_info
short_description: Read the model, firmware, MAC address and factory-password flag of a Grandstream phone
version_added: 0.2.0
description:
  - Reads the model from C(/json/configs/model.define.js), which needs no login.
  - With O(auth=session) or O(auth=session_plain), logs in to the web interface and reads the firmware version, the MAC
    address and whether the factory password is still set (C(defaultAuth)) from the login answer, then logs out.
  - A field the phone or its dialect cannot tell is V(null), and RV(device.unknown_reason) says why. The passcode dialect
    of the CTI guide reports no firmware; nothing is ever guessed.
  - A phone that cannot be read at all (unreachable, a rejected password, CTI refused) fails the task with its error class.
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
  - module: phonefleet.grandstream.fleet_registration_info
  - module: phonefleet.grandstream.accounts_info
"""

EXAMPLES = r"""
- name: Read what every phone is
  phonefleet.grandstream.device_info:
  register: phone_device

- name: Phones whose factory password is still set
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} ({{ phone_device.device.model }}) still has its factory password"
  when: phone_device.device.default_password is true

- name: A WP826 with the web-session login
  phonefleet.grandstream.device_info:
    host: 10.1.4.50
    auth: session
    username: admin
    passcode: "{{ vault_wp826_password }}"
"""

RETURN = r"""
device:
  description: What the phone is.
  returned: success
  type: dict
  sample:
    model: WP826
    firmware: 1.0.3.35
    mac: 00:0B:82:12:34:56
    default_password: false
    auth: session
    unknown_reason: {}
  contains:
    model:
      description: The model the phone reports, for example V(GRP2614) or V(WP826); null when it has no model.define.js.
      type: str
      returned: always
      sample: WP826
    firmware:
      description: The firmware version from the session login; null for the passcode dialect.
      type: str
      returned: always
      sample: 1.0.3.35
    mac:
      description: The MAC address from the session login; null for the passcode dialect.
      type: str
      returned: always
      sample: 00:0B:82:12:34:56
    default_password:
      description: True when the factory password is still set (the login's C(defaultAuth)); null for the passcode dialect.
      type: bool
      returned: always
      sample: false
    auth:
      description: The dialect the phone was read with (V(passcode), V(session) or V(session_plain)).
      type: str
      returned: always
      sample: session
    unknown_reason:
      description: For every field that is null, why it is unknown.
      type: dict
      returned: always
      sample: {firmware: the passcode dialect does not report it}
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
TASK = cti_tasks.device_info


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
