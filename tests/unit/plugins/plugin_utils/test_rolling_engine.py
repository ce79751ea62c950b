# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's rules added with the Change split, on the fake fleet and the fake clock: an interruption writes the
ledger and the report and resumes without a second command; progress as it happens; a batch count that never changes;
a ledger that cannot be written stops the run with a sentence."""

import datetime
import errno
import json
import os
import signal

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import rolling_ledger
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import Window
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_run import RunStopped
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_state import StateFileError
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import (
    FakeClock, FakeFleet, make_run, outcomes, reasons,
)


def ledger_entries(tmp_path, run_id='r1'):
    return dict((entry['name'], entry) for entry in json.loads((tmp_path / ('%s.json' % run_id)).read_text())['phones'].values())


def interrupt_when(fleet, run, condition, signum=signal.SIGINT):
    """What the signal handler does (RollingRun.interrupt), at the first sleep where ``condition()`` holds."""
    def hook(clock):
        if condition():
            run.interrupt(signum)
    fleet.clock.on_sleep = hook


def test_an_interrupted_run_writes_what_it_did_and_resumes_without_a_second_command(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(6)
    first = [fleet.phones[name] for name in ('gs001', 'gs002', 'gs003')]
    run = make_run(fleet, tmp_path, settings={'batch_size': 3})
    interrupt_when(fleet, run, lambda: all(phone.commands and phone.power() == 'down' for phone in first))
    with pytest.raises(RunStopped) as caught:
        run.run()
    fleet.clock.on_sleep = None
    stop = caught.value
    assert stop.signum == signal.SIGINT
    assert run.interrupt(signal.SIGTERM) is None, 'a second signal does nothing: the ledger and the report get written'
    summary = stop.report['summary']
    assert summary['stopped_reason'] == 'interrupted' and summary['stopped'] is True
    assert outcomes(stop.report) == dict([(name, 'failed') for name in ('gs001', 'gs002', 'gs003')]
                                         + [(name, 'not_attempted') for name in ('gs004', 'gs005', 'gs006')])
    assert set(reasons(stop.report).values()) == {'interrupted'}
    in_flight = stop.report['phones'][0]
    assert 'the next run with run id r1 checks it and never sends it again' in in_flight['error']
    assert 'interrupted by SIGINT' in stop.message and '3 in flight' in stop.message and '3 not attempted' in stop.message
    assert '-e rolling_reboot_run_id=r1' in stop.message and str(tmp_path / 'r1.json') in stop.message
    # the ledger says what went out: the phones in flight are sent (and were seen going down), the others absent
    entries = ledger_entries(tmp_path)
    assert sorted(entries) == ['gs001', 'gs002', 'gs003']
    assert {entry['state'] for entry in entries.values()} == {'sent'} and all(entry['seen_down'] for entry in entries.values())

    fleet.clock.advance(1.0)
    again = make_run(fleet, tmp_path, settings={'batch_size': 3}).run()
    assert set(outcomes(again).values()) == {'rebooted'}
    assert fleet.commands() == dict((name, 1) for name in fleet.phones), 'no phone got a second command'
    assert again['phones'][0]['note'].startswith('checked after the interruption: seen going down before it')


def test_an_interruption_before_any_command_leaves_nothing_to_check(tmp_path):
    fleet = FakeFleet()
    fleet.add('talking', busy_until=50.0)
    run = make_run(fleet, tmp_path)
    interrupt_when(fleet, run, lambda: True, signal.SIGTERM)
    with pytest.raises(RunStopped) as caught:
        run.run()
    assert caught.value.signum == signal.SIGTERM and 'interrupted by SIGTERM' in caught.value.message
    assert outcomes(caught.value.report) == {'talking': 'not_attempted'} and fleet.commands() == {'talking': 0}
    assert not (tmp_path / 'r1.json').exists() or ledger_entries(tmp_path) == {}


def test_a_vanished_controller_stops_the_run_and_says_how_to_resume(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(4)
    run = make_run(fleet, tmp_path, settings={'batch_size': 2})
    run.controller_alive = lambda: not fleet.phones['gs001'].commands
    with pytest.raises(RunStopped) as caught:
        run.run()
    stop = caught.value
    assert stop.signum is None
    assert 'ansible-playbook stopped while the rolling reboot r1 was running' in stop.message
    # gone right after gs001's command: gs002, next in the same batch, gets nothing (the fake fan-out is sequential)
    assert fleet.commands() == {'gs001': 1, 'gs002': 0, 'gs003': 0, 'gs004': 0}
    assert dict((name, entry['state']) for name, entry in ledger_entries(tmp_path).items()) == {'gs001': 'sent'}
    assert outcomes(stop.report) == {'gs001': 'failed', 'gs002': 'not_attempted', 'gs003': 'not_attempted',
                                     'gs004': 'not_attempted'}


def test_progress_is_printed_as_phones_go_down_come_back_and_fail(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(2)
    fleet.add('dark', faults=['never_up'])
    said = []
    run = make_run(fleet, tmp_path, settings={'batch_size': 3})
    run.display = lambda line: said.append((fleet.clock.now, line))
    run.run()

    def first(text):
        return [(when, line) for when, line in said if text in line][0]
    down_at, down = first('Batch 1 of 1: of 3 phones, 3 down')
    failed_at, failed = first('failed (never_up)')
    end_at, end = first('Batch 1 of 1: 3 sent, 2 rebooted, 1 failed')
    registered_at, dummy = first('2 registered')
    assert down_at < 2.0, 'seen down half a second after the commands, said at once'
    assert down_at < registered_at < failed_at <= end_at
    assert registered_at < 20, 'the phones that registered are told long before the batch ends'
    assert failed.startswith('Batch 1 of 1: failed (never_up): dark (10.9.0.3): the phone went down after REBOOT')
    assert 55 <= failed_at <= 62, 'named when it failed (reboot_timeout 60 s after its command)'
    assert [line for dummy, line in said].index(failed) < [line for dummy, line in said].index(end)


def test_the_batch_count_of_the_plan_never_changes(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(3)
    fleet.add('talking', busy_until=40.0)  # idle at the preflight, in a call when its batch comes
    fleet.phones['talking'].busy_until = None
    lines = []
    run = make_run(fleet, tmp_path, settings={'batch_size': 2}, lines=lines)
    original_take = run.batches.take_idle

    def call_starts(queue, size):
        if fleet.clock.now > 1:
            fleet.phones['talking'].busy_until = 40.0
        return original_take(queue, size)
    run.batches.take_idle = call_starts
    report = run.run()
    assert set(outcomes(report).values()) == {'rebooted'}
    ends = [line.split(':')[0] for line in lines if ' sent, ' in line]
    assert ends == ['Batch 1 of 2', 'Batch 2 of 2', 'Extra batch 3 (the plan had 2']
    assert not [line for line in lines if 'of 3' in line.split(':')[0]]
    assert report['summary']['batches_planned'] == 2 and report['summary']['batches_run'] == 3


def test_a_resumed_run_keeps_its_batch_count(tmp_path):
    fleet = FakeFleet(FakeClock(start_local=datetime.datetime(2026, 12, 3, 4, 59, 55)))
    fleet.add_many(6)
    lines = []
    make_run(fleet, tmp_path, settings={'batch_size': 2}, window=Window('01:00-05:00'), lines=lines).run()
    assert [line.split(':')[0] for line in lines if ' sent, ' in line] == ['Batch 1 of 3']
    fleet.clock.local_start = datetime.datetime(2026, 12, 4, 1, 0, 0) - datetime.timedelta(seconds=fleet.clock.now)
    lines = []
    make_run(fleet, tmp_path, settings={'batch_size': 2}, window=Window('01:00-05:00'), lines=lines).run()
    assert [line.split(':')[0] for line in lines if ' sent, ' in line] == ['Batch 2 of 3', 'Batch 3 of 3']
    assert 'batches 2 to 3 of the run' in lines[0]


def test_check_mode_says_when_the_window_is_closed_now(tmp_path):
    fleet = FakeFleet(FakeClock(start_local=datetime.datetime(2026, 12, 3, 12, 0, 0)))
    fleet.add_many(2)
    lines = []
    report = make_run(fleet, tmp_path, check_mode=True, window=Window('01:00-05:00'), lines=lines).run()
    assert 'Maintenance window 01:00-05:00 (controller local time), closed now (12:00): a run started now would reboot ' \
           'nothing and stop at once.' in lines[0]
    assert report['plan']['window_open'] is False and sum(fleet.commands().values()) == 0


def test_a_ledger_that_cannot_be_written_stops_the_run_before_any_command(tmp_path, monkeypatch):
    fleet = FakeFleet()
    fleet.add_many(3)

    def full(path, data, mode=0o644):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr(rolling_ledger, 'write_atomic', full)
    with pytest.raises(StateFileError) as caught:
        make_run(fleet, tmp_path).run()
    text = str(caught.value)
    assert text.startswith('cannot write the rolling reboot ledger %s: no space is left on the device.' % (tmp_path / 'r1.json'))
    assert '[Errno' not in text
    assert sum(fleet.commands().values()) == 0, 'nothing goes out that the ledger does not know'
