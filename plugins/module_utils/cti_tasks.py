# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Task functions: what each module does, given a connected CTIClient.

Signature: ``task(client, params, check_mode) -> result dict``.  They raise CTIError
(or ValueError for bad input); ``cti_module.run_task`` turns both into failed results.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import accounts_summary


def accounts_info(client, params, check_mode):
    accounts = client.get_accounts()
    return {'changed': False, 'accounts': accounts, 'summary': accounts_summary(accounts)}


def phone_status_info(client, params, check_mode):
    status = client.get_phone_status()
    return dict(changed=False, **status)


def line_status_info(client, params, check_mode):
    lines = client.get_line_status()
    return {'changed': False, 'lines': lines, 'in_use': any(line['in_use'] for line in lines)}
