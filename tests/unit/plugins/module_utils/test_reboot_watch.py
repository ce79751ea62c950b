# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot watch against a phone on a timeline of fake time: no network, no sleeping.

The watch must see each step of a reboot soon (port checks every half second while the phone goes down and comes
back, a registration poll at once when it answers, then every second) and never ask a phone more than one HTTP
request a second.
"""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import reboot_watch
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import Observation, RebootWatch, WatchOptions

START = 1000.0


class FakeClock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


class TimelinePhone:
    """Answers until ``down_at``, is dark for ``down_for`` seconds (None: for ever), registers ``register_after``
    seconds after it is back (None: never); ``down_at`` None: it never goes down.  Each look costs ``cost`` seconds."""

    def __init__(self, clock, down_at=2.0, down_for=3.0, register_after=1.0, fatal=None, unknown_polls=0, cost=0.0):
        self.clock = clock
        self.down_at, self.down_for, self.register_after = down_at, down_for, register_after
        self.fatal = fatal
        self.unknown_polls = unknown_polls  # the first polls after the phone is back answer without registration info
        self.cost = cost
        self.checks = 0
        self.poll_times = []

    def since(self):
        return self.clock() - START

    def dark(self):
        if self.down_at is None or self.since() < self.down_at:
            return False
        return self.down_for is None or self.since() < self.down_at + self.down_for

    def port_check(self):
        self.checks += 1
        self.clock.now += self.cost
        return not self.dark()

    def probe(self):
        self.poll_times.append(self.since())
        self.clock.now += self.cost
        if self.dark():
            return Observation(False)
        if self.fatal is not None:
            return Observation(True, fatal=self.fatal)
        if len(self.poll_times) <= self.unknown_polls:
            return Observation(True)
        back = self.down_at + self.down_for if self.down_at is not None else 0.0
        registered = self.register_after is not None and self.since() >= back + self.register_after
        return Observation(True, [1] if registered else [])


def make_watch(phone=None, registered_before=(1,), **options):
    clock = phone.clock if phone is not None else FakeClock()
    phone = phone or TimelinePhone(clock)
    watch = RebootWatch(CTIConnection('10.1.4.42', name='gs0042', passcode='pw'), list(registered_before),
                        WatchOptions(**options), clock=clock, probe=phone.probe, port_check=phone.port_check)
    return watch, clock, phone


def run(watch, clock):
    return reboot_watch.wait_for(watch, sleep=clock.sleep, clock=clock)


def test_happy_path_is_seen_within_half_a_second_and_registration_at_once():
    watch, clock, phone = make_watch()
    assert (watch.state, watch.done, watch.ok, watch.reason) == ('sent', False, False, None)
    assert watch.due_at == START + 0.5
    states = []
    while not watch.done:
        clock.sleep(watch.due_at - clock())
        states.append(watch.step())
    assert states[:4] == ['sent', 'sent', 'sent', 'down'] and states[-2:] == ['up', 'registered']
    assert watch.ok and watch.done and watch.reason is None and watch.rebooted
    assert watch.timings == {'down_after': 2.0, 'up_after': 5.0, 'registered_after': 6.0}
    assert phone.poll_times == [5.0, 6.0], 'no HTTP request before the web port answers'
    assert watch.polls == 2 and watch.checks == phone.checks == 10
    assert watch.error is None and watch.reason is None


def test_a_finished_watch_looks_no_more():
    watch, clock, phone = make_watch()
    run(watch, clock)
    checks, polls = phone.checks, len(phone.poll_times)
    assert watch.step() == 'registered'
    assert (phone.checks, len(phone.poll_times)) == (checks, polls)


def test_a_restart_shorter_than_the_poll_interval_is_seen_by_the_port_check():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=2.0, down_for=0.5), poll_interval=5)
    run(watch, clock)
    assert watch.ok, watch.error
    assert watch.timings['down_after'] == 2.0 and watch.timings['up_after'] == 2.5


def test_never_down_is_a_failure_not_a_success():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=None), down_timeout=10)
    run(watch, clock)
    assert watch.done and watch.reason == reboot_watch.NEVER_DOWN and not watch.ok
    assert watch.state == 'sent', 'a failed watch stays at the step where it failed'
    assert not watch.rebooted
    assert watch.error.startswith('gs0042 (10.1.4.42): the phone accepted REBOOT but was still answering 10 s later')
    assert clock() - watch.started == pytest.approx(10.0)
    assert phone.poll_times == [], 'a phone that does not go down is never asked over HTTP'


def test_never_back_fails_at_reboot_timeout_even_with_a_long_poll_interval():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=0.2, down_for=None), reboot_timeout=30, poll_interval=7)
    run(watch, clock)
    assert watch.reason == reboot_watch.NEVER_UP and watch.state == 'down'
    assert 'did not answer again within reboot_timeout (30 s)' in watch.error
    assert clock() - watch.started == pytest.approx(30.0)
    assert watch.timings['down_after'] == 0.5 and watch.timings['up_after'] is None
    assert phone.poll_times == []


def test_slow_checks_overrun_the_deadline_by_at_most_one_check():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=0.0, down_for=None, cost=5), reboot_timeout=30)
    run(watch, clock)
    assert watch.reason == reboot_watch.NEVER_UP
    assert 30 <= clock() - watch.started <= 30 + 5 + 0.5


def test_back_unregistered_fails_naming_the_accounts_and_the_polls_back_off():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), register_after=None), registered_before=(1, 2, 3),
                                     registration_timeout=60, poll_interval=5)
    run(watch, clock)
    assert watch.reason == reboot_watch.UNREGISTERED and watch.rebooted and watch.state == 'up'
    assert 'accounts 1, 2, 3 did not register within registration_timeout (60 s)' in watch.error
    assert watch.timings['up_after'] == 5.0
    assert clock() - watch.started == pytest.approx(65.0)
    gaps = [later - earlier for earlier, later in zip(phone.poll_times, phone.poll_times[1:])]
    assert min(gaps) >= 1.0, 'never more than one HTTP request a second'
    assert gaps[:10] == [1.0] * 10, 'every second while the phone has just come back'
    assert max(gaps) == 5.0 and len(phone.poll_times) < 25, 'then less often, up to poll_interval'


def test_answers_without_registration_info_keep_waiting():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), register_after=0.0, unknown_polls=2))
    run(watch, clock)
    assert watch.ok and watch.timings == {'down_after': 2.0, 'up_after': 5.0, 'registered_after': 7.0}


def test_nothing_registered_before_means_done_when_back_without_a_poll():
    watch, clock, phone = make_watch(registered_before=())
    run(watch, clock)
    assert watch.state == 'registered' and watch.timings['registered_after'] == 5.0
    assert phone.poll_times == []


def test_wait_false_stops_at_up():
    watch, clock, phone = make_watch(wait=False)
    run(watch, clock)
    assert watch.ok and watch.state == 'up' and watch.timings['registered_after'] is None and phone.poll_times == []


def test_post_reboot_delay_postpones_the_registration_check():
    watch, clock, phone = make_watch(post_reboot_delay=10, poll_interval=3)
    while watch.state != 'up':
        clock.sleep(watch.due_at - clock())
        watch.step()
    assert not watch.done and watch.due_at == watch.started + 5 + 10
    run(watch, clock)
    assert watch.timings == {'down_after': 2.0, 'up_after': 5.0, 'registered_after': 15.0}
    assert phone.poll_times == [15.0]


def test_reset_sends_no_http_request_at_all():
    watch, clock, phone = make_watch(operation='reset')
    run(watch, clock)
    assert watch.ok and watch.state == 'up' and watch.timings['registered_after'] is None
    assert phone.poll_times == [], 'the reset restored the factory passcode: the old one is never sent'


def test_a_rejected_passcode_after_the_reboot_ends_the_watch_at_once():
    error = CTIError('gs0042 (10.1.4.42)', 'auth_failed', 'the phone rejected the passcode (HTTP 401).')
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), fatal=error))
    run(watch, clock)
    assert watch.reason == 'auth_failed' and phone.poll_times == [5.0]
    assert watch.error.startswith('gs0042 (10.1.4.42): the phone rejected the passcode')


def test_down_timeout_longer_than_reboot_timeout_is_capped():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=None), down_timeout=120, reboot_timeout=15)
    run(watch, clock)
    assert watch.reason == reboot_watch.NEVER_DOWN and clock() - watch.started == pytest.approx(15.0)


def test_a_short_poll_interval_also_shortens_the_checks():
    watch, clock, phone = make_watch(TimelinePhone(FakeClock(), down_at=0.1, down_for=0.3, register_after=0.0),
                                     poll_interval=0.2)
    assert watch.due_at == START + 0.2
    run(watch, clock)
    assert watch.ok


def test_the_accounts_probe_keeps_one_client_for_the_watch(monkeypatch):
    made = []

    class Client:
        def __init__(self, connection, read_retries=1, proven=False):
            made.append((connection.timeout, read_retries))
            assert proven, 'the phone accepted the password before its command: a lost poll may send it again'
            self.closed = False

        def get_accounts(self):
            return [{'id': 1, 'configured': True, 'registered': True}]

        def close(self):
            self.closed = True
    monkeypatch.setattr(reboot_watch, 'CTIClient', Client)
    probe = reboot_watch.AccountsProbe(CTIConnection('10.1.4.42', passcode='pw', timeout=10), 2.5)
    assert probe() == Observation(True, [1]) and probe() == Observation(True, [1])
    assert made == [(2.5, 0)], 'one client, no retries, connect_timeout as its deadline'
    probe.close()
