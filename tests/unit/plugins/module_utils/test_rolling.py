# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch sizes, plans, windows and the ledger of the rolling reboot."""

import datetime
import json
import os

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import rolling
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import Observation


@pytest.mark.parametrize('value, total, expected', [(20, 200, 20), ('20', 200, 20), ('10%', 200, 20), ('10%', 5, 1),
                                                    ('33%', 10, 4), ('100%', 7, 7), (500, 10, 500)])
def test_batch_size(value, total, expected):
    assert rolling.parse_batch_size(value, total) == expected


@pytest.mark.parametrize('value', [0, -1, '0%', '101%', 'ten', '', '5.5'])
def test_bad_batch_size_names_the_variable(value):
    with pytest.raises(ValueError) as caught:
        rolling.parse_batch_size(value, 10, name='rolling_reboot_batch_size')
    assert 'rolling_reboot_batch_size' in str(caught.value)


def test_plan_with_and_without_canary():
    names = ['p%d' % n for n in range(7)]
    assert rolling.plan_batches(names, 3) == [['p0', 'p1', 'p2'], ['p3', 'p4', 'p5'], ['p6']]
    assert rolling.plan_batches(names, 3, canary=1) == [['p0'], ['p1', 'p2', 'p3'], ['p4', 'p5', 'p6']]
    assert rolling.plan_batches([], 3) == []


@pytest.mark.parametrize('window, hour, minute, is_open', [
    ('01:00-05:00', 0, 59, False), ('01:00-05:00', 1, 0, True), ('01:00-05:00', 4, 59, True), ('01:00-05:00', 5, 0, False),
    ('22:30-02:00', 23, 0, True), ('22:30-02:00', 1, 59, True), ('22:30-02:00', 12, 0, False), ('22:30-02:00', 22, 29, False),
])
def test_window(window, hour, minute, is_open):
    assert rolling.Window(window).is_open(datetime.datetime(2026, 11, 25, hour, minute)) is is_open


@pytest.mark.parametrize('text', ['1-5', '25:00-01:00', '01:00-01:00', '', None, '01:00 to 05:00'])
def test_bad_window(text):
    with pytest.raises(ValueError):
        rolling.Window(text)


def test_ledger_round_trip_and_resume(tmp_path):
    ledger = rolling.Ledger(str(tmp_path / 'state'), 'night-1')
    assert not ledger.resumed
    ledger.update('gs1', state=rolling.LEDGER_SENDING, batch=1)
    ledger.save()
    again = rolling.Ledger(str(tmp_path / 'state'), 'night-1')
    assert again.resumed
    assert again.state('gs1') == 'sending'
    assert again.state('gs2') is None
    assert json.loads((tmp_path / 'state' / 'night-1.json').read_text())['phones']['gs1']['batch'] == 1
    assert [p.name for p in (tmp_path / 'state').iterdir()] == ['night-1.json'], 'no temporary files left behind'


def test_ledger_rejects_bad_run_ids_and_files(tmp_path):
    for run_id in ('', '../etc', 'a/b', '.hidden'):
        with pytest.raises(ValueError):
            rolling.Ledger(str(tmp_path), run_id)
    (tmp_path / 'broken.json').write_text('{not json')
    with pytest.raises(ValueError) as caught:
        rolling.Ledger(str(tmp_path), 'broken')
    assert 'broken.json' in str(caught.value)


# -- run ids, the failure threshold, the ledger states ---------------------------------------


def test_default_run_id_is_the_date_the_window_opened():
    assert rolling.default_run_id(None, datetime.datetime(2026, 1, 5, 14, 0)) == '2026-01-05'
    night = rolling.Window('22:00-02:00')
    assert rolling.default_run_id(night, datetime.datetime(2026, 1, 5, 23, 0)) == '2026-01-05'
    assert rolling.default_run_id(night, datetime.datetime(2026, 1, 6, 1, 30)) == '2026-01-05'
    assert rolling.default_run_id(rolling.Window('01:00-05:00'), datetime.datetime(2026, 1, 6, 1, 30)) == '2026-01-06'
    assert rolling.check_run_id(rolling.default_run_id()) == rolling.default_run_id()


@pytest.mark.parametrize('failed, attempted, limit, exceeded', [
    (0, 0, 0, False), (0, 10, 0, False), (1, 10, 0, True), (1, 10, 10, False), (2, 10, 10, True),
    (1, 3, 33.4, False), (1, 3, 33.3, True), (5, 5, 100, False),
])
def test_fail_limit(failed, attempted, limit, exceeded):
    assert rolling.fail_limit_exceeded(failed, attempted, limit) is exceeded


@pytest.mark.parametrize('entry, gone_out', [
    ({}, False), ({'state': 'sending'}, True), ({'state': 'sent'}, True), ({'state': 'rebooted'}, False),
    ({'state': 'failed', 'sent': True}, True), ({'state': 'failed', 'sent': False}, False), ({'state': 'pending'}, False),
])
def test_command_may_have_gone_out(entry, gone_out):
    assert rolling.command_may_have_gone_out(entry) is gone_out


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (59.4, '59s'), (60, '1m00s'), (185, '3m05s'), (7440, '2h04m'), (-3, '0s')])
def test_duration_text(seconds, text):
    assert rolling.duration_text(seconds) == text


def test_run_lock_is_exclusive_and_released(tmp_path):
    first = rolling.RunLock(str(tmp_path / 'state'), 'night-1').acquire()
    with pytest.raises(ValueError) as caught:
        rolling.RunLock(str(tmp_path / 'state'), 'night-1').acquire(timeout=0.3)
    assert 'another rolling reboot with the same run id' in str(caught.value)
    assert str(os.getpid()) in str(caught.value)
    other = rolling.RunLock(str(tmp_path / 'state'), 'night-2').acquire()
    first.release()
    rolling.RunLock(str(tmp_path / 'state'), 'night-1').acquire().release()
    other.release()


# -- verification of a phone whose command went out before an interruption -------------------

class FakeClock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeConnection(object):
    label = 'gs1 (127.0.0.1:8080)'


def scripted_probe(observations):
    observations = list(observations)

    def probe():
        return observations.pop(0) if len(observations) > 1 else observations[0]
    return probe


def resumed(observations, sent_ago, clock=None, expected=(1,)):
    clock = clock or FakeClock()
    return rolling.ResumedWatch(FakeConnection(), list(expected), sent_ago=sent_ago, down_timeout=10, reboot_timeout=60,
                                registration_timeout=20, poll_interval=2, connect_timeout=1, clock=clock,
                                probe=scripted_probe(observations)), clock


def drive(watch, clock, limit=200):
    for dummy in range(limit):
        if watch.done:
            return watch
        clock.now = max(clock.now, watch.next_poll_at)
        watch.poll()
    raise AssertionError('the watch never finished')


def test_resumed_phone_up_and_registered_long_after_the_command_is_verified_at_once():
    watch, clock = resumed([Observation(True, [1])], sent_ago=30)
    assert watch.next_poll_at <= clock.now, 'the first probe is due at once'
    watch.poll()
    assert watch.done and watch.ok and watch.verified_after_resume and watch.polls == 1


def test_resumed_phone_still_saving_is_followed_through_its_reboot():
    watch, clock = resumed([Observation(True, [1]), Observation(False), Observation(True, []),
                            Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert watch.ok and not watch.verified_after_resume
    assert watch.timings['down_after'] is not None and watch.timings['registered_after'] is not None


def test_resumed_phone_up_and_registered_until_down_timeout_counts_as_verified():
    watch, clock = resumed([Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert watch.ok and watch.verified_after_resume
    assert clock.now - (watch.started) >= 10, 'watched until down_timeout after the command'


def test_resumed_phone_down_comes_back_and_registers():
    watch, clock = resumed([Observation(False), Observation(False), Observation(True, [1])], sent_ago=2)
    drive(watch, clock)
    assert watch.ok and watch.timings['down_after'] == 2.0


def test_resumed_phone_still_down_after_reboot_timeout_fails_at_once():
    watch, clock = resumed([Observation(False)], sent_ago=3600)
    watch.poll()
    assert watch.done and not watch.ok and watch.failure == 'never_up'
    assert watch.reason.startswith('gs1 (127.0.0.1:8080): ')


def test_resumed_phone_back_but_unregistered_fails_after_registration_timeout():
    watch, clock = resumed([Observation(True, [])], sent_ago=3600)
    drive(watch, clock)
    assert not watch.ok and watch.failure == 'unregistered'
    assert watch.timings['up_after'] == 3600.0
    assert clock.now - (watch.started + 3600) >= 20
