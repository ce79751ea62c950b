#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: accounts_info
short_description: Read the SIP accounts of a Grandstream phone and whether they are registered
version_added: 0.1.0
description:
  - Calls the CTI function C(api-get_accounts) and returns every account with C(configured) and C(registered) booleans,
    plus a summary.
  - An account with an empty C(sip_id) is not configured; it is normal for it to be unregistered.
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
  - module: phonefleet.grandstream.line_status_info
"""

EXAMPLES = r"""
- name: Read the accounts of every phone (connection settings come from the inventory)
  phonefleet.grandstream.accounts_info:
  register: phone_accounts

- name: Fail when a configured account is not registered
  ansible.builtin.assert:
    that: phone_accounts.summary.all_registered
    fail_msg: "{{ inventory_hostname }}: {{ phone_accounts.summary.registered }} of
      {{ phone_accounts.summary.configured }} configured accounts registered"

- name: Read one phone given explicitly
  phonefleet.grandstream.accounts_info:
    host: 10.1.4.42
    passcode: "{{ vault_phone_passcode }}"
    scheme: https
    validate_certs: false
"""

RETURN = r"""
accounts:
  description: The accounts the phone reports, in its order. Keys a newer firmware adds (for example C(auto_cfg)) pass through.
  returned: success
  type: list
  elements: dict
  sample:
    - id: 1
      name: office
      sip_id: '1001'
      sip_server: pbx.example.net
      reg: 1
      configured: true
      registered: true
  contains:
    id:
      description: Account number, starting at 1.
      type: int
      returned: always
      sample: 1
    name:
      description: Account name.
      type: str
      returned: always
      sample: office
    sip_id:
      description: SIP user ID; empty when the account is not configured.
      type: str
      returned: always
      sample: '1001'
    sip_server:
      description: SIP server.
      type: str
      returned: always
      sample: pbx.example.net
    configured:
      description: Whether the account has a SIP user ID.
      type: bool
      returned: always
      sample: true
    registered:
      description: Whether the account is registered with its SIP server.
      type: bool
      returned: always
      sample: true
summary:
  description: Counts over the accounts.
  returned: success
  type: dict
  sample: {total: 2, configured: 1, registered: 1, all_registered: true}
  contains:
    total:
      description: Number of accounts listed.
      type: int
      returned: always
      sample: 2
    configured:
      description: Number of configured accounts.
      type: int
      returned: always
      sample: 1
    registered:
      description: Number of configured accounts that are registered.
      type: int
      returned: always
      sample: 1
    all_registered:
      description: True when there is at least one configured account and all of them are registered.
      type: bool
      returned: always
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
TASK = cti_tasks.accounts_info


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
