# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Phones and targets of the fan-out, audit and fleet-check tests: fixture phones (tests/fixtures/fixture_phone.py, a
GRP2614 in the passcode dialect) with the accounts a test needs, and fleet targets that reach them."""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone

ACCOUNT_OK = {'id': 1, 'sip_server': 'pbx.example.net', 'sip_id': '1001', 'name': 'office', 'reg': 1}
ACCOUNT_DOWN = {'id': 2, 'sip_server': 'pbx.example.net', 'sip_id': '1002', 'name': 'lab', 'reg': 0}
ACCOUNT_EMPTY = {'id': 3, 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0}


def healthy(accounts=None, status=None, passcode=PASSCODE):
    """A GRP2614 with ``accounts`` (account 1 registered and an empty account 3 by default); ``status``: what its phone
    status answers (None: what its lines and accounts say, ``available`` by default)."""
    phone = FixturePhone.of_model('GRP2614', passcode=passcode,
                                  accounts=[ACCOUNT_OK, ACCOUNT_EMPTY] if accounts is None else accounts)
    phone.status = status
    return phone


def make_targets(count, prefix='gs'):
    return [FleetTarget('%s%04d' % (prefix, number), CTIConnection('10.1.4.%d' % number, passcode=PASSCODE, name='%s%04d' % (prefix, number)),
                        {'site': 'hq', 'model': 'GRP2614'}) for number in range(1, count + 1)]
