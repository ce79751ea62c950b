# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch sizes, plans, windows and the ledger of the rolling reboot."""

import datetime
import json
import os
import stat
import threading

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
    key = rolling.phone_key('10.0.0.1', 80)
    ledger.update(key, name='gs1', host='10.0.0.1', port=80, state=rolling.LEDGER_SENDING, batch=1, sending_at=1.0)
    ledger.save()
    assert not ledger.resumed, 'resumed says whether an earlier attempt wrote phones, not this one'
    again = rolling.Ledger(str(tmp_path / 'state'), 'night-1')
    assert again.resumed
    assert again.state(key) == 'sending'
    assert again.state('10.0.0.2:80') is None
    data = json.loads((tmp_path / 'state' / 'night-1.json').read_text())
    assert data['version'] == 2 and data['phones']['10.0.0.1:80']['batch'] == 1
    assert [p.name for p in (tmp_path / 'state').iterdir()] == ['night-1.json'], 'no temporary files left behind'


def test_ledger_entries_are_found_by_address_whatever_the_name(tmp_path):
    ledger = rolling.Ledger(str(tmp_path), 'r1')
    ledger.update(rolling.phone_key('10.0.0.1', 80), name='gs1', host='10.0.0.1', port=80, state='rebooted')
    assert ledger.find('renamed', '10.0.0.1', 80) == '10.0.0.1:80'
    assert ledger.find('renamed', '10.0.0.1', 8080) is None
    assert ledger.find('gs1', '10.0.0.9', 80) is None, 'a name now at another address is another phone'
    assert ledger.find('gs1', '10.0.0.1', 80) == ledger.find('GS1', '10.0.0.1', 80)


def test_a_ledger_of_0_1_0_is_matched_by_name_and_host(tmp_path):
    (tmp_path / 'r1.json').write_text(json.dumps({'run_id': 'r1', 'phones': {
        'gs1': {'state': 'rebooted', 'batch': 1, 'host': '10.0.0.1'},
        'gs2': {'state': 'failed', 'sent': True, 'failure': 'never_down', 'batch': 1, 'host': '10.0.0.2'}}}))
    ledger = rolling.Ledger(str(tmp_path), 'r1')
    assert ledger.resumed
    assert ledger.find('gs1', '10.0.0.1', 80) == 'gs1'
    assert ledger.find('gs1', '10.0.0.7', 80) is None
    assert rolling.resume_action(ledger.entry('gs2')) == rolling.RESUME_FAILED


def test_ledger_rejects_bad_run_ids_and_files(tmp_path):
    for run_id in ('', '../etc', 'a/b', '.hidden'):
        with pytest.raises(ValueError):
            rolling.Ledger(str(tmp_path), run_id)
    (tmp_path / 'broken.json').write_text('{not json')
    with pytest.raises(ValueError) as caught:
        rolling.Ledger(str(tmp_path), 'broken')
    assert 'broken.json' in str(caught.value) and 'move the file away' in str(caught.value)


GOOD_ENTRY = {'name': 'gs1', 'host': '10.0.0.1', 'port': 80, 'state': 'sent', 'batch': 1, 'sending_at': 1.0, 'sent_at': 2.0}


@pytest.mark.parametrize('entry, problem', [
    ('rebooted', 'it is str, not an object'),
    (dict(GOOD_ENTRY, state='done'), "its state is 'done'"),
    (dict(GOOD_ENTRY, batch='x'), "batch is 'x', not a batch number"),
    (dict(GOOD_ENTRY, batch=True), 'batch is True'),
    (dict(GOOD_ENTRY, batch=0), 'batch is 0'),
    (dict(GOOD_ENTRY, sending_at='abc'), "sending_at is 'abc'"),
    (dict(GOOD_ENTRY, seen_down=float('nan')), 'seen_down is nan'),
    (dict(GOOD_ENTRY, expected='1'), "expected is '1'"),
    (dict(GOOD_ENTRY, timings={'up_after': 'soon'}), 'timings is'),
    (dict(GOOD_ENTRY, sent='yes'), "sent is 'yes'"),
    (dict(GOOD_ENTRY, sending_at=None, sent_at=None), 'does not say when'),
    (dict(GOOD_ENTRY, port='80'), 'no host and port'),
    (dict(GOOD_ENTRY, host='10.0.0.2'), 'are not its key'),
])
def test_a_bad_ledger_entry_is_named_when_the_ledger_is_loaded(tmp_path, entry, problem):
    (tmp_path / 'r1.json').write_text(json.dumps({'version': 2, 'run_id': 'r1', 'phones': {'10.0.0.1:80': entry}}))
    with pytest.raises(ValueError) as caught:
        rolling.Ledger(str(tmp_path), 'r1')
    text = str(caught.value)
    assert str(tmp_path / 'r1.json') in text and "'10.0.0.1:80'" in text and problem in text, text
    assert 'move the file away' in text and 'starts fresh' in text


@pytest.mark.parametrize('content, problem', [
    ('', 'cannot read'), ('[]', 'not a rolling reboot ledger'), ('{"phones": []}', 'not a rolling reboot ledger'),
    ('\x00' * 10, 'cannot read'), ('{"version": 9, "phones": {}}', 'version 9'),
    ('{"run_id": "other", "phones": {}}', "belongs to run id 'other'"),
])
def test_a_file_that_is_no_ledger_is_refused(tmp_path, content, problem):
    (tmp_path / 'r1.json').write_text(content)
    with pytest.raises(ValueError) as caught:
        rolling.Ledger(str(tmp_path), 'r1')
    assert problem in str(caught.value) and str(tmp_path / 'r1.json') in str(caught.value)


def test_ledger_save_fsyncs_the_file_and_then_the_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append('directory' if stat.S_ISDIR(os.fstat(descriptor).st_mode) else 'file')
        real_fsync(descriptor)
    monkeypatch.setattr(os, 'fsync', fsync)
    ledger = rolling.Ledger(str(tmp_path), 'r1')
    ledger.set('canary_passed', True)
    ledger.save()
    assert synced == ['file', 'directory']
    ledger.save()
    assert synced == ['file', 'directory'], 'nothing changed: nothing written'


def test_ledger_saves_from_many_threads_write_every_change(tmp_path):
    ledger = rolling.Ledger(str(tmp_path), 'r1')

    def mark(number):
        key = rolling.phone_key('10.0.1.%d' % number, 80)
        ledger.update(key, name='gs%d' % number, host='10.0.1.%d' % number, port=80, state='sending', batch=1,
                      sending_at=1.0)
        ledger.save()
        # On return this phone's entry is on disk, whichever thread wrote it.
        assert json.loads((tmp_path / 'r1.json').read_text())['phones'][key]['state'] == 'sending'
    threads = [threading.Thread(target=mark, args=(number,)) for number in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(rolling.Ledger(str(tmp_path), 'r1').entries()) == 40


def test_duplicate_addresses_keep_the_first_name():
    targets = [Target('gs1', '10.0.0.1', 80), Target('alias1', '10.0.0.1', 80), Target('gs2', '10.0.0.1', 8080),
               Target('ALIAS', '10.0.0.1'.upper(), 80), Target('broken', None, None), Target('broken2', None, None)]
    assert rolling.first_of_duplicates(targets) == {'alias1': 'gs1', 'ALIAS': 'gs1'}


class Target(object):
    def __init__(self, name, host, port):
        self.name, self.host, self.port = name, host, port


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


@pytest.mark.parametrize('entry, action', [
    ({}, 'plan'), ({'state': 'pending'}, 'plan'),
    ({'state': 'sending'}, 'check'), ({'state': 'sent'}, 'check'),
    ({'state': 'rebooted'}, 'done'),
    # A check finished and failed: final for the run id (never checked into a "rebooted").
    ({'state': 'failed', 'sent': True, 'checked': True, 'reason': 'never_down'}, 'failed'),
    ({'state': 'failed', 'sent': True, 'checked': True, 'reason': 'unverified'}, 'failed'),
    ({'state': 'failed', 'sent': True, 'failure': 'never_down'}, 'failed'),  # as 0.1.0 wrote it
    # The command may have gone out, no check finished: checked, never sent again.
    ({'state': 'failed', 'sent': True, 'checked': False, 'reason': 'error'}, 'check'),
    ({'state': 'failed', 'sent': True}, 'check'),
    # Refused, or failed before it left: planned again.
    ({'state': 'failed', 'sent': False, 'reason': 'rejected'}, 'plan'),
])
def test_resume_action(entry, action):
    assert rolling.resume_action(entry) == action


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (59.4, '59s'), (60, '1m00s'), (185, '3m05s'), (7440, '2h04m'), (-3, '0s')])
def test_duration_text(seconds, text):
    assert rolling.duration_text(seconds) == text


def test_run_lock_is_one_per_state_dir_whatever_the_run_id(tmp_path):
    first = rolling.RunLock(str(tmp_path / 'state'), 'night-1').acquire()
    for run_id in ('night-1', 'night-2'):
        with pytest.raises(ValueError) as caught:
            rolling.RunLock(str(tmp_path / 'state'), run_id).acquire(timeout=0.3)
        text = str(caught.value)
        assert 'another rolling reboot (run id night-1, process %d)' % os.getpid() in text
        assert str(tmp_path / 'state') in text and 'different state directories' in text
    other = rolling.RunLock(str(tmp_path / 'other-fleet'), 'night-2').acquire()
    first.release()
    rolling.RunLock(str(tmp_path / 'state'), 'night-2').acquire().release()
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


def resumed(observations, sent_ago, clock=None, expected=(1,), down_after=None, sent=True):
    clock = clock or FakeClock()
    return rolling.ResumedWatch(FakeConnection(), list(expected), sent_ago=sent_ago, down_after=down_after, sent=sent,
                                down_timeout=10, reboot_timeout=60, registration_timeout=20, poll_interval=2,
                                connect_timeout=1, clock=clock, probe=scripted_probe(observations)), clock


def drive(watch, clock, limit=200):
    for dummy in range(limit):
        if watch.done:
            return watch
        clock.now = max(clock.now, watch.next_poll_at)
        watch.poll()
    raise AssertionError('the watch never finished')


def test_resumed_phone_seen_down_before_the_interruption_is_verified_when_back_and_registered():
    watch, clock = resumed([Observation(True, [1])], sent_ago=30, down_after=1.5)
    assert watch.next_poll_at <= clock.now, 'the first probe is due at once'
    watch.poll()
    assert watch.done and watch.ok and watch.polls == 1 and watch.seen_down_before
    assert watch.timings['down_after'] == 1.5 and watch.timings['registered_after'] == 30.0


def test_resumed_phone_seen_down_and_back_unregistered_fails_after_registration_timeout():
    watch, clock = resumed([Observation(True, [])], sent_ago=30, down_after=1.5)
    drive(watch, clock)
    assert not watch.ok and watch.failure == 'unregistered'


def test_resumed_phone_seen_down_and_still_down_after_reboot_timeout_fails_at_once():
    watch, clock = resumed([Observation(False)], sent_ago=3600, down_after=1.0)
    watch.poll()
    assert watch.done and not watch.ok and watch.failure == 'never_up'
    assert watch.reason.startswith('gs1 (127.0.0.1:8080): ')


def test_resumed_phone_up_and_registered_long_after_the_command_is_unverified_at_once():
    """Nobody saw it go down: it may have restarted during the interruption, or never. It is not a reboot."""
    watch, clock = resumed([Observation(True, [1])], sent_ago=30)
    watch.poll()
    assert watch.done and not watch.ok and watch.failure == 'unverified' and watch.polls == 1
    assert 'went out before the run was interrupted' in watch.reason
    assert 'its accounts are registered' in watch.reason and 'nobody saw it restart' in watch.reason
    assert 'new run id' in watch.reason


@pytest.mark.parametrize('seen, expected, sent, text', [
    (Observation(True, []), (1,), True, 'account 1 is not registered'),
    (Observation(True, [1]), (1, 2), True, 'account 2 is not registered'),
    (Observation(True, []), (1, 2), True, 'accounts 1, 2 are not registered'),
    (Observation(True), (1,), True, 'its registration could not be read'),
    (Observation(True, []), (), True, 'no account was registered before the reboot'),
    (Observation(True, [1]), (1,), False, 'was being sent (it may have gone out)'),
])
def test_the_unverified_sentence_says_what_the_phone_answers(seen, expected, sent, text):
    watch, clock = resumed([seen], sent_ago=30, expected=expected, sent=sent)
    watch.poll()
    assert watch.failure == 'unverified' and text in watch.reason, watch.reason


def test_resumed_phone_still_saving_is_followed_through_its_reboot():
    watch, clock = resumed([Observation(True, [1]), Observation(False), Observation(True, []),
                            Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert watch.ok and not watch.seen_down_before
    assert watch.timings['down_after'] is not None and watch.timings['registered_after'] is not None


def test_resumed_phone_up_until_down_timeout_after_the_command_is_unverified():
    watch, clock = resumed([Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert not watch.ok and watch.failure == 'unverified'
    assert clock.now - watch.started >= 10, 'watched until down_timeout after the command'


def test_resumed_phone_down_comes_back_and_registers():
    watch, clock = resumed([Observation(False), Observation(False), Observation(True, [1])], sent_ago=2)
    drive(watch, clock)
    assert watch.ok and watch.timings['down_after'] == 2.0


def test_resumed_phone_not_seen_down_and_down_after_reboot_timeout_fails_never_up():
    watch, clock = resumed([Observation(False)], sent_ago=3600)
    watch.poll()
    assert watch.done and not watch.ok and watch.failure == 'never_up'
