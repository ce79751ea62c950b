# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reboot pieces around the watch: preflight, options, skip reasons, the command (the watch itself: test_reboot_watch.py)."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import reboot, reboot_watch
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


# -- preflight and options -------------------------------------------------------------------

class FakeClient:
    def __init__(self, lines, accounts, dropped=False):
        self.lines = lines
        self.accounts = accounts
        self.dropped = dropped
        self.sent = []
        self.connection = CTIConnection('10.1.4.42', name='gs0042', passcode='pw')

    def sys_operation(self, request):
        self.sent.append(request)
        return {'sent': True, 'dropped': self.dropped, 'body': None}

    def get_line_status(self):
        return self.lines

    def get_accounts(self):
        return self.accounts


def account(account_id, sip_id='', registered=False):
    return {'id': account_id, 'sip_id': sip_id, 'configured': bool(sip_id), 'registered': registered}


def line(number, state='idle'):
    return {'line': number, 'state': state, 'in_use': state != 'idle'}


def test_preflight_lists_configured_registered_and_unregistered_accounts():
    client = FakeClient([line(1), line(2, 'onhold')],
                        [account(1, '1001', True), account(2, '1002', False), account(3, '', True)])
    facts = reboot.preflight(client)
    assert facts['in_use'] is True
    assert (facts['configured'], facts['registered'], facts['unregistered']) == ([1, 2], [1], [2])


@pytest.mark.parametrize('only_if_unregistered, expected', [(False, [1]), (True, [1, 2])])
def test_send_command_returns_the_watch_for_the_accounts_to_wait_for(only_if_unregistered, expected):
    client = FakeClient([line(1)], [account(1, '1001', True), account(2, '1002', False)], dropped=True)
    options = reboot.check_options({'only_if_unregistered': only_if_unregistered})
    expected_now = reboot.expected_registrations(reboot.preflight(client), options)
    watch = reboot.send_command(client, expected_now, options, clock=FakeClock(), port_check=lambda: False)
    assert client.sent == ['REBOOT'] and watch.dropped is True and watch.expected == expected
    assert watch.state == 'sent' and watch.step() == 'down'


@pytest.mark.parametrize('options, words', [
    ({'operation': 'reset'}, 'confirm_reset: true'),
    ({'operation': 'reset', 'confirm_reset': True, 'only_if_unregistered': True}, 'operation=reboot only'),
    ({'poll_interval': 0}, 'poll_interval must be a positive'),
    ({'down_timeout': -1}, 'down_timeout must be a non-negative'),
    ({'busy_policy': 'maybe'}, 'busy_policy must be'),
])
def test_bad_options_are_refused_before_anything_is_sent(options, words):
    with pytest.raises(ValueError) as caught:
        reboot.check_options(options)
    assert words in str(caught.value)


def test_options_get_defaults_and_none_means_default():
    options = reboot.check_options({'poll_interval': None, 'reboot_timeout': 60})
    assert options['poll_interval'] == 5.0 and options['reboot_timeout'] == 60.0 and options['busy_policy'] == 'skip'


@pytest.mark.parametrize('only_if_unregistered, configured, unregistered, in_use, policy, reason', [
    (False, [1], [], False, 'skip', None),
    (False, [1], [], True, 'skip', 'busy'),
    (False, [1], [], True, 'wait', 'busy'),
    (False, [1], [], True, 'force', None),
    (True, [1], [], False, 'skip', 'registered'),
    (True, [], [], False, 'skip', 'no_accounts'),
    (True, [1], [1], False, 'skip', None),
    (True, [1], [1], True, 'skip', 'busy'),
])
def test_skip_reason(only_if_unregistered, configured, unregistered, in_use, policy, reason):
    facts = {'configured': configured, 'unregistered': unregistered, 'in_use': in_use}
    options = {'only_if_unregistered': only_if_unregistered, 'busy_policy': policy}
    assert reboot.skip_reason(facts, options) == reason


def test_port_open_on_a_closed_port_is_false():
    import socket
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    server.close()
    assert reboot_watch.port_open('127.0.0.1', port, 1) is False
