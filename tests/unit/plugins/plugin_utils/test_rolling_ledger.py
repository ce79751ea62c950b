# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot's ledger, its resume decisions and the run lock."""

import errno
import json
import os
import stat
import threading

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import rolling_ledger, rolling_plan, rolling_state
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import REBOOTED, RebootChange

REBOOT = RebootChange.ledger_kind


def load_ledger(state_dir, run_id):
    return rolling_ledger.Ledger(str(state_dir), run_id, REBOOT)


def test_ledger_round_trip_and_resume(tmp_path):
    ledger = load_ledger(str(tmp_path / 'state'), 'night-1')
    assert not ledger.resumed
    key = rolling_plan.phone_key('10.0.0.1', 80)
    ledger.put(key, dict(name='gs1', host='10.0.0.1', port=80, state=rolling_ledger.LEDGER_SENDING, batch=1, sending_at=1.0))
    ledger.save()
    assert not ledger.resumed, 'resumed says whether an earlier attempt wrote phones, not this one'
    again = load_ledger(str(tmp_path / 'state'), 'night-1')
    assert again.resumed
    assert again.state(key) == 'sending'
    assert again.state('10.0.0.2:80') is None
    data = json.loads((tmp_path / 'state' / 'night-1.json').read_text())
    assert data['version'] == 2 and data['phones']['10.0.0.1:80']['batch'] == 1
    assert [p.name for p in (tmp_path / 'state').iterdir()] == ['night-1.json'], 'no temporary files left behind'


def test_ledger_entries_are_found_by_address_whatever_the_name(tmp_path):
    ledger = load_ledger(str(tmp_path), 'r1')
    ledger.put(rolling_plan.phone_key('10.0.0.1', 80), dict(name='gs1', host='10.0.0.1', port=80, state='rebooted'))
    assert ledger.find('renamed', '10.0.0.1', 80) == '10.0.0.1:80'
    assert ledger.find('renamed', '10.0.0.1', 8080) is None
    assert ledger.find('gs1', '10.0.0.9', 80) is None, 'a name now at another address is another phone'
    assert ledger.find('gs1', '10.0.0.1', 80) == ledger.find('GS1', '10.0.0.1', 80)


def test_a_ledger_of_0_1_0_is_matched_by_name_and_host(tmp_path):
    (tmp_path / 'r1.json').write_text(json.dumps({'run_id': 'r1', 'phones': {
        'gs1': {'state': 'rebooted', 'batch': 1, 'host': '10.0.0.1'},
        'gs2': {'state': 'failed', 'sent': True, 'failure': 'never_down', 'batch': 1, 'host': '10.0.0.2'}}}))
    ledger = load_ledger(str(tmp_path), 'r1')
    assert ledger.resumed
    assert ledger.find('gs1', '10.0.0.1', 80) == 'gs1'
    assert ledger.find('gs1', '10.0.0.7', 80) is None
    assert rolling_ledger.resume_action(ledger.entry('gs2'), REBOOTED) == rolling_ledger.RESUME_FAILED


def test_ledger_rejects_bad_run_ids_and_files(tmp_path):
    for run_id in ('', '../etc', 'a/b', '.hidden'):
        with pytest.raises(ValueError):
            load_ledger(str(tmp_path), run_id)
    (tmp_path / 'broken.json').write_text('{not json')
    with pytest.raises(ValueError) as caught:
        load_ledger(str(tmp_path), 'broken')
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
        load_ledger(str(tmp_path), 'r1')
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
        load_ledger(str(tmp_path), 'r1')
    assert problem in str(caught.value) and str(tmp_path / 'r1.json') in str(caught.value)


def test_ledger_save_fsyncs_the_file_and_then_the_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append('directory' if stat.S_ISDIR(os.fstat(descriptor).st_mode) else 'file')
        real_fsync(descriptor)
    monkeypatch.setattr(os, 'fsync', fsync)
    ledger = load_ledger(str(tmp_path), 'r1')
    ledger.set('canary_passed', True)
    ledger.save()
    assert synced == ['file', 'directory']
    ledger.save()
    assert synced == ['file', 'directory'], 'nothing changed: nothing written'


def test_ledger_saves_from_many_threads_write_every_change(tmp_path):
    ledger = load_ledger(str(tmp_path), 'r1')

    def mark(number):
        key = rolling_plan.phone_key('10.0.1.%d' % number, 80)
        ledger.put(key, dict(name='gs%d' % number, host='10.0.1.%d' % number, port=80, state='sending', batch=1,
                             sending_at=1.0))
        ledger.save()
        # On return this phone's entry is on disk, whichever thread wrote it.
        assert json.loads((tmp_path / 'r1.json').read_text())['phones'][key]['state'] == 'sending'
    threads = [threading.Thread(target=mark, args=(number,)) for number in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(load_ledger(str(tmp_path), 'r1').entries()) == 40


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
    assert rolling_ledger.resume_action(entry, REBOOTED) == action


def test_run_lock_is_one_per_state_dir_whatever_the_run_id(tmp_path):
    first = rolling_state.RunLock(str(tmp_path / 'state'), 'night-1', REBOOT).acquire()
    for run_id in ('night-1', 'night-2'):
        with pytest.raises(ValueError) as caught:
            rolling_state.RunLock(str(tmp_path / 'state'), run_id, REBOOT).acquire(timeout=0.3)
        text = str(caught.value)
        assert 'another rolling reboot (run id night-1, process %d)' % os.getpid() in text
        assert str(tmp_path / 'state') in text and 'different state directories' in text
    other = rolling_state.RunLock(str(tmp_path / 'other-fleet'), 'night-2', REBOOT).acquire()
    first.release()
    rolling_state.RunLock(str(tmp_path / 'state'), 'night-2', REBOOT).acquire().release()
    other.release()


# -- state files are never opened through a symbolic link; errors are sentences ------------------------

def test_a_symlinked_lock_is_refused_and_its_target_left_alone(tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    (state / 'rolling_reboot.lock').symlink_to(victim)
    with pytest.raises(rolling_state.StateFileError) as caught:
        rolling_state.RunLock(str(state), 'r1', REBOOT).acquire()
    text = str(caught.value)
    assert text.startswith('cannot open the lock %s: it is a symbolic link' % (state / 'rolling_reboot.lock')), text
    assert victim.read_text() == 'precious\n', 'the target was neither truncated nor written'
    # a dangling link: its target is not created either
    (state / 'rolling_reboot.lock').unlink()
    (state / 'rolling_reboot.lock').symlink_to(tmp_path / 'created')
    with pytest.raises(rolling_state.StateFileError):
        rolling_state.RunLock(str(state), 'r1', REBOOT).acquire()
    assert not (tmp_path / 'created').exists()


def test_a_symlinked_ledger_is_refused_and_a_link_planted_later_is_replaced_not_followed(tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    victim = tmp_path / 'victim.json'
    victim.write_text(json.dumps({'run_id': 'r1', 'phones': {}}))
    (state / 'r1.json').symlink_to(victim)
    with pytest.raises(ValueError) as caught:
        load_ledger(state, 'r1')
    assert 'cannot read the rolling reboot ledger %s: it is a symbolic link' % (state / 'r1.json') in str(caught.value)
    (state / 'r1.json').unlink()
    ledger = load_ledger(state, 'r1')
    (state / 'r1.json').symlink_to(victim)  # planted while the run works
    ledger.put('10.0.0.1:80', dict(name='gs1', host='10.0.0.1', port=80, state='sending', batch=1, sending_at=1.0))
    ledger.save()
    assert json.loads(victim.read_text()) == {'run_id': 'r1', 'phones': {}}, 'the victim is untouched'
    assert not os.path.islink(str(state / 'r1.json')) and load_ledger(state, 'r1').state('10.0.0.1:80') == 'sending'


def test_a_state_directory_swapped_under_the_run_stops_it(tmp_path):
    state = tmp_path / 'state'
    elsewhere = tmp_path / 'elsewhere'
    state.mkdir()
    elsewhere.mkdir()
    ledger = load_ledger(state, 'r1')
    ledger.set('canary_passed', True)
    ledger.save()
    state.rename(tmp_path / 'moved')
    state.symlink_to(elsewhere)
    ledger.set('canary_passed', False)
    with pytest.raises(rolling_state.StateFileError) as caught:
        ledger.save()
    assert 'the state directory %s was replaced while the run used it' % state in str(caught.value)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize('number, words', [(errno.ENOSPC, 'no space is left on the device'),
                                           (errno.EROFS, 'the file system is read-only'),
                                           (errno.EACCES, 'permission denied')])
def test_a_ledger_that_cannot_be_written_is_a_sentence_naming_it(tmp_path, monkeypatch, number, words):
    def refuse(path, data, mode=0o644):
        raise OSError(number, os.strerror(number), path)
    monkeypatch.setattr(rolling_ledger, 'write_atomic', refuse)
    ledger = load_ledger(tmp_path, 'r1')
    ledger.set('canary_passed', True)
    with pytest.raises(rolling_state.StateFileError) as caught:
        ledger.save()
    text = str(caught.value)
    assert text.startswith('cannot write the rolling reboot ledger %s: %s.' % (tmp_path / 'r1.json', words)), text
    assert '[Errno' not in text


@pytest.mark.parametrize('number, words', [(errno.EROFS, 'the file system is read-only'),
                                           (errno.ENOSPC, 'no space is left on the device')])
def test_a_lock_that_cannot_be_opened_is_a_sentence_naming_it(tmp_path, monkeypatch, number, words):
    def refuse(self, name, flags, mode=0o644):
        raise OSError(number, os.strerror(number))
    monkeypatch.setattr(rolling_state.StateDirectory, 'open_file', refuse)
    with pytest.raises(rolling_state.StateFileError) as caught:
        rolling_state.RunLock(str(tmp_path), 'r1', REBOOT).acquire()
    text = str(caught.value)
    assert text == 'cannot open the lock %s: %s. Nothing was changed on the phones.' % (tmp_path / 'rolling_reboot.lock', words)


def test_os_error_words_never_show_an_errno():
    assert rolling_state.os_error_words(OSError(errno.ENOSPC, 'No space left on device')) == 'no space is left on the device'
    assert rolling_state.os_error_words(OSError(errno.EBUSY, 'Device or resource busy')) == 'device or resource busy'


def test_the_lock_records_its_holder_and_kind(tmp_path):
    lock = rolling_state.RunLock(str(tmp_path), 'night-1', REBOOT).acquire()
    assert (tmp_path / 'rolling_reboot.lock').read_text() == '%d night-1 reboot\n' % os.getpid()
    lock.release()
