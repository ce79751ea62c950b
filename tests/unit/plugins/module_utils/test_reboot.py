# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot state machine with a fake clock and a fake probe: no network, no sleeping."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import reboot
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import Observation, RebootWatch, WatchOptions

DOWN = Observation(False)
UP = Observation(True)  # answered, registration unknown


def registered(*ids):
    return Observation(True, list(ids))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


class ScriptedProbe:
    """Returns the scripted observations in turn (the last one repeats); each probe takes ``cost`` seconds."""

    def __init__(self, clock, script, cost=0.0):
        self.clock = clock
        self.script = list(script)
        self.cost = cost
        self.calls = 0

    def __call__(self):
        self.calls += 1
        self.clock.now += self.cost
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def make_watch(script, registered_before=(1,), cost=0.0, **options):
    clock = FakeClock()
    probe = ScriptedProbe(clock, script, cost)
    options.setdefault('poll_interval', 1)
    watch = RebootWatch(CTIConnection('10.1.4.42', name='gs0042', passcode='pw'), list(registered_before),
                        WatchOptions(**options), clock=clock, probe=probe)
    return watch, clock, probe


def run(watch, clock):
    return reboot.wait_for(watch, sleep=clock.sleep, clock=clock)


def test_happy_path_goes_sent_down_up_registered_with_timings():
    watch, clock, _probe = make_watch([UP, UP, DOWN, DOWN, registered(), registered(1)])
    assert (watch.state, watch.done, watch.outcome) == ('sent', False, None)
    assert watch.next_poll_at == 1001.0
    states = []
    while not watch.done:
        clock.sleep(watch.next_poll_at - clock())
        states.append(watch.poll())
    assert states == ['sent', 'sent', 'down', 'down', 'up', 'registered']
    assert watch.ok and watch.outcome == 'rebooted' and watch.rebooted
    assert watch.timings == {'down_after': 3.0, 'up_after': 5.0, 'registered_after': 6.0}
    assert watch.reason is None and watch.failure is None


def test_a_finished_watch_sends_no_more_probes():
    watch, clock, probe = make_watch([DOWN, registered(1)])
    run(watch, clock)
    calls = probe.calls
    assert watch.poll() == 'registered'
    assert probe.calls == calls


class ScriptedPort:
    """A fake down check: the port answers (True) until ``closed_at`` for ``closed_for`` seconds of the fake clock."""

    def __init__(self, clock, closed_at, closed_for):
        self.clock = clock
        self.closed = (clock() + closed_at, clock() + closed_at + closed_for)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return not self.closed[0] <= self.clock() < self.closed[1]


def test_step_sees_a_restart_shorter_than_the_poll_interval():
    """Down for 0.5 s between two polls 5 s apart: the quick port check catches it and polls at once."""
    clock = FakeClock()
    port = ScriptedPort(clock, closed_at=2.0, closed_for=0.5)

    def probe():  # the full probe tells what the port tells, and the accounts once the phone is back
        return registered(1) if port() else DOWN

    watch = RebootWatch(CTIConnection('10.1.4.42', name='gs0042', passcode='pw'), [1], WatchOptions(poll_interval=5),
                        clock=clock, probe=probe, down_check=port)
    assert watch.due_at == 1000.25  # the first quick check, long before the first poll
    run(watch, clock)
    assert watch.ok, watch.reason
    assert watch.timings['down_after'] == 2.0
    assert watch.timings['registered_after'] is not None


def test_step_without_a_down_check_only_polls():
    watch, clock, probe = make_watch([UP, UP, DOWN, registered(1)], poll_interval=2)
    assert watch.due_at == watch.next_poll_at == 1002.0
    run(watch, clock)
    assert watch.ok and probe.calls == 4


def test_no_quick_checks_once_the_phone_went_down():
    clock = FakeClock()
    port = ScriptedPort(clock, closed_at=0.0, closed_for=3.0)
    watch = RebootWatch(CTIConnection('10.1.4.42', name='gs0042', passcode='pw'), [1], WatchOptions(poll_interval=1),
                        clock=clock, probe=ScriptedProbe(clock, [DOWN, DOWN, DOWN, registered(1)]), down_check=port)
    run(watch, clock)
    assert watch.ok
    assert port.calls == 1  # the first check found the port closed; after that only polls


def test_never_down_is_a_failure_not_a_success():
    watch, clock, _probe = make_watch([registered(1)], down_timeout=10)
    run(watch, clock)
    assert watch.state == 'failed' and watch.failure == reboot.NEVER_DOWN and not watch.ok
    assert watch.outcome == 'failed' and not watch.rebooted
    assert watch.reason.startswith('gs0042 (10.1.4.42): the phone accepted REBOOT but was still answering 10 s later')
    assert clock() - watch.started == pytest.approx(10.0)


def test_never_back_fails_at_reboot_timeout_even_with_a_long_poll_interval():
    watch, clock, _probe = make_watch([DOWN], reboot_timeout=30, poll_interval=7)
    run(watch, clock)
    assert watch.failure == reboot.NEVER_UP
    assert 'did not answer again within reboot_timeout (30 s)' in watch.reason
    assert clock() - watch.started == pytest.approx(30.0)
    assert watch.timings['down_after'] == 7.0 and watch.timings['up_after'] is None


def test_slow_probes_overrun_the_deadline_by_at_most_one_probe():
    watch, clock, _probe = make_watch([DOWN], reboot_timeout=30, poll_interval=1, cost=5)
    run(watch, clock)
    assert watch.failure == reboot.NEVER_UP
    assert 30 <= clock() - watch.started <= 30 + 5 + 1


def test_back_unregistered_fails_the_registration_check_naming_the_accounts():
    watch, clock, _probe = make_watch([DOWN, registered(2)], registered_before=(1, 2, 3), registration_timeout=20)
    run(watch, clock)
    assert watch.failure == reboot.UNREGISTERED and watch.rebooted
    assert 'accounts 1, 3 did not register within registration_timeout (20 s)' in watch.reason
    assert watch.timings['up_after'] == 2.0
    assert clock() - watch.started == pytest.approx(22.0)


def test_answers_without_registration_info_keep_waiting():
    watch, clock, _probe = make_watch([DOWN, UP, UP, registered(1)])
    run(watch, clock)
    assert watch.ok and watch.timings == {'down_after': 1.0, 'up_after': 2.0, 'registered_after': 4.0}


def test_nothing_registered_before_means_done_when_back():
    watch, clock, _probe = make_watch([DOWN, UP], registered_before=())
    run(watch, clock)
    assert watch.state == 'registered' and watch.timings['registered_after'] == 2.0


def test_wait_false_stops_at_up():
    watch, clock, _probe = make_watch([DOWN, UP], wait=False)
    run(watch, clock)
    assert watch.ok and watch.state == 'up' and watch.timings['registered_after'] is None


def test_post_reboot_delay_postpones_the_registration_check():
    watch, clock, probe = make_watch([DOWN, registered(1)], post_reboot_delay=10, poll_interval=3)
    for _step in range(2):
        clock.sleep(watch.next_poll_at - clock())
        watch.poll()
    assert watch.state == 'up' and not watch.done
    assert watch.next_poll_at == watch.started + 6 + 10
    run(watch, clock)
    assert watch.timings == {'down_after': 3.0, 'up_after': 6.0, 'registered_after': 16.0}
    assert probe.calls == 3


def test_reset_does_not_check_registration():
    watch, clock, _probe = make_watch([UP, DOWN, UP], operation='reset')
    run(watch, clock)
    assert watch.ok and watch.state == 'up' and watch.timings['registered_after'] is None


def test_a_rejected_passcode_after_the_reboot_ends_the_watch_at_once():
    error = CTIError('gs0042 (10.1.4.42)', 'auth_failed', 'the phone rejected the passcode (HTTP 401).')
    watch, clock, probe = make_watch([DOWN, Observation(True, None, error), registered(1)])
    run(watch, clock)
    assert watch.failure == 'auth_failed' and probe.calls == 2
    assert watch.reason.startswith('gs0042 (10.1.4.42): the phone rejected the passcode')


def test_down_timeout_longer_than_reboot_timeout_is_capped():
    watch, clock, _probe = make_watch([UP], down_timeout=120, reboot_timeout=15)
    run(watch, clock)
    assert watch.failure == reboot.NEVER_DOWN and clock() - watch.started == pytest.approx(15.0)


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
    watch = reboot.send_command(client, expected_now, options, clock=FakeClock(), probe=lambda: DOWN)
    assert client.sent == ['REBOOT'] and watch.dropped is True and watch.expected == expected
    assert watch.state == 'sent' and watch.poll() == 'down'


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


def test_port_probe_sends_no_http(monkeypatch):
    seen = []
    monkeypatch.setattr(reboot, 'port_open', lambda host, port, timeout: seen.append((host, port, timeout)) or True)
    probe = reboot.port_probe(CTIConnection('10.1.4.42', passcode='old', port=8080), 2.5)
    assert probe() == Observation(True) and seen == [('10.1.4.42', 8080, 2.5)]


def test_port_open_on_a_closed_port_is_false():
    import socket
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    server.close()
    assert reboot.port_open('127.0.0.1', port, 1) is False
