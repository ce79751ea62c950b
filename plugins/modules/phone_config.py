#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: phone_config
short_description: Read and write the settings (P-values) of a Grandstream phone, every write read back
version_added: 0.3.0
description:
  - Sets the phone's settings, its P-values (V(P30) NTP server, V(P192) firmware server path...), to the values given,
    writing only what differs, and reads every written value back. A value the phone accepted but did not keep (a
    user-role login, a value too long, a weak admin password, a cloud service that owns provisioning) fails the task
    naming the key and the likely causes; it is never reported as changed.
  - Keys are V(P30), V(30) or an alias (V(provisioning.firmware.serverPath)) that the phone's alias catalogue
    resolves (phones with the JSON settings form only). Every key is checked before anything is sent; an alias only
    ever reaches the phone as its P-number.
  - Secrets (admin and user passwords P2 and P196, SIP passwords, SNMP communities, and any alias naming a password,
    secret, key or community) are write-only. They are never read, compared or shown (not in the result, the diff or
    C(-vvvv)); with O(update_secrets=always) they are written on every run and reported in RV(unverified). A weak
    admin password (P2 under 8 characters, or without both letters and digits) is refused before anything is written,
    since phones drop it while answering success and it cannot be read back.
  - Settings need the phone's web login, on every phone, also on phones whose CTI requests use the passcode dialect
    (the same password logs in). One login per phone and task, never retried after a wrong password.
  - Which settings form the phone speaks (V(api.values.get/post) on GXP16xx/17xx and older GXP21xx, V(config_get) /
    V(config_update) on GRP26xx, WP8xx and GXP21xx from 1.0.11) comes from its model and firmware, else from one
    request without credentials.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
attributes:
  check_mode:
    support: full
    details: Reads the current values and predicts the result; writes nothing.
  diff_mode:
    support: full
    details: Shows the values of the keys given before and after, secrets left out.
options:
  settings:
    description:
      - The settings to set, key to value. Values are sent as text, numbers and booleans too (V(true) is V(1)).
      - Required with O(state=merged).
    type: dict
  state:
    description:
      - V(merged) sets the keys of O(settings) and leaves every other setting alone.
      - V(gathered) reads the keys of O(keys) and changes nothing (secrets are not read).
    type: str
    choices: [merged, gathered]
    default: merged
  keys:
    description:
      - The keys to read with O(state=gathered).
    type: list
    elements: str
  update_secrets:
    description:
      - V(always) writes the secrets of O(settings) on every run (they cannot be read back to compare) and reports
        them as changed and unverified.
      - V(never) leaves secrets alone, so that a run without changes is not changed.
    type: str
    choices: [always, never]
    default: always
notes:
  - Writing the web access mode or port (P1650, P22120, P22121) can end the management session; those values are
    written and reported in RV(unverified), not read back on the old connection. Read them with the new scheme or port.
seealso:
  - module: phonefleet.grandstream.fleet_config
  - module: phonefleet.grandstream.device_info
"""

EXAMPLES = r"""
- name: NTP server and time zone, every write read back
  phonefleet.grandstream.phone_config:
    settings:
      P30: ntp.example.net
      P64: CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00

- name: Syslog to the collector, by alias (phones with the JSON settings form)
  phonefleet.grandstream.phone_config:
    settings:
      P207: syslog.example.net
      P208: 2
  diff: true

- name: Rotate the admin password (write-only; reported as unverified)
  phonefleet.grandstream.phone_config:
    settings:
      P2: "{{ vault_new_admin_password }}"
    update_secrets: always

- name: Read the provisioning settings
  phonefleet.grandstream.phone_config:
    state: gathered
    keys: [P192, P237, P6767, P238, P145]
  register: provisioning
"""

RETURN = r"""
changed_keys:
  description: The keys written (as the task named them), secrets written included.
  returned: state is merged
  type: list
  elements: str
  sample: [P30]
unverified:
  description: Keys written but not read back - secrets (write-only), and web access keys that may end the session.
  returned: state is merged
  type: list
  elements: str
  sample: [P2]
before:
  description: The values of the keys given before the task; secrets are C(********).
  returned: state is merged
  type: dict
  sample: {P30: pool.ntp.org, P2: '********'}
after:
  description: The values read back after the task (predicted in check mode); secrets are C(********).
  returned: state is merged
  type: dict
  sample: {P30: ntp.example.net, P2: '********'}
pvalues:
  description: The P-number of each key given (aliases resolved).
  returned: success
  type: dict
  sample: {provisioning.firmware.serverPath: P192, P30: P30}
not_applied:
  description: Keys the phone answered success for but did not keep (the task failed).
  returned: when a value did not stick
  type: list
  elements: str
  sample: [P192]
gathered:
  description: The values read with O(state=gathered); secrets and unknown keys are null.
  returned: state is gathered
  type: dict
  sample: {P192: fw.example.net/grp, P238: '0'}
secret_keys:
  description: Keys of O(keys) that are secrets, not read.
  returned: state is gathered
  type: list
  elements: str
  sample: [P2]
unknown_keys:
  description: Keys of O(keys) that the phone does not have.
  returned: state is gathered
  type: list
  elements: str
  sample: []
cut:
  description: What was cut from the phone's answers (values longer than 4096 characters, too many objects...).
  returned: when something was cut
  type: list
  elements: str
  sample: ['kept 64 of 70 fields of an object']
error_class:
  description: On failure, the error class, one of V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error) or V(rejected).
  returned: failure
  type: str
  sample: auth_failed
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils import config_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_module

ARGUMENT_SPEC = dict(
    settings=dict(type='dict'),
    state=dict(type='str', choices=list(config_tasks.STATES), default='merged'),
    keys=dict(type='list', elements='str', no_log=False),
    update_secrets=dict(type='str', choices=list(config_tasks.UPDATE_SECRETS), default='always'),
)
TASK = config_tasks.phone_config


def SECRETS_OF(params):  # pylint: disable=invalid-name
    return config_tasks.secret_values(params.get('settings'))


def main():
    run_module(ARGUMENT_SPEC, TASK, SECRETS_OF)


if __name__ == '__main__':
    main()
