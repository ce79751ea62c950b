# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rolling task from lock to reports (what the action plugin runs), on the fake fleet: check mode writes the plan,
never over the last report; the per-user ledger whatever the current directory; a ledger left at the old default place
is refused; SIGTERM writes what was done and says how to resume; report files that cannot be written are a sentence."""

import errno
import json
import os
import signal

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import rolling_task
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_settings import RollingSettings
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_task import RollingTask, TaskFailed
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import FakeFleet, task_args


def make_task(fleet, tmp_path, check_mode=False, lines=None, **options):
    args = task_args(**dict({'report_dir': str(tmp_path / 'reports'), 'run_id': 'r1'}, **options))
    return RollingTask(RollingSettings.from_args(args), RebootChange.from_args(args, probes=fleet.watch_probes), check_mode,
                       lines.append if lines is not None else (lambda line: None), console=None,
                       run_options=dict(fan_out=fleet.fan_out, clock=fleet.clock.run_clock(), controller_alive=lambda: True))


@pytest.fixture(name='state_home')
def fixture_state_home(tmp_path, monkeypatch):
    home = tmp_path / 'state-home'
    monkeypatch.setenv('GRANDSTREAM_STATE_DIR', str(home))
    return home


def test_check_mode_writes_the_plan_and_never_the_report_of_the_last_run(tmp_path, state_home):
    fleet = FakeFleet()
    fleet.add_many(3)
    result = make_task(fleet, tmp_path).run(fleet.targets())
    report = tmp_path / 'reports' / 'rolling_reboot.json'
    assert sorted(result['report_files']) == ['csv', 'html', 'json', 'junit']
    last_run = report.read_text()

    planned = make_task(fleet, tmp_path, check_mode=True, run_id='r2').run(fleet.targets())
    assert planned['report_files'] == {'plan': str(tmp_path / 'reports' / 'rolling_reboot.plan.json')}
    assert report.read_text() == last_run, 'the report of the last real run is untouched'
    plan = json.loads((tmp_path / 'reports' / 'rolling_reboot.plan.json').read_text())
    assert plan['summary']['check_mode'] is True and set(phone['outcome'] for phone in plan['phones']) == {'not_attempted'}
    assert 'Check mode: nothing was sent.' in planned['msg'] and 'Plan: %s' % planned['report_files']['plan'] in planned['msg']
    assert sum(fleet.commands().values()) == 3


def test_the_ledger_is_per_user_whatever_the_current_directory(tmp_path, state_home, monkeypatch):
    fleet = FakeFleet()
    fleet.add_many(2)
    lines = []
    for directory in ('one', 'two'):
        (tmp_path / directory).mkdir()
        monkeypatch.chdir(tmp_path / directory)
        result = make_task(fleet, tmp_path, lines=lines).run(fleet.targets())
    ledger = str(state_home / 'rolling_reboot' / 'r1.json')
    assert result['ledger'] == ledger and result['summary']['ledger'] == ledger
    assert 'Ledger: %s.' % ledger in result['msg'] and 'Ledger: %s.' % ledger in lines[0]
    assert result['summary']['already_done'] == 2 and fleet.commands() == {'gs001': 1, 'gs002': 1}


def test_a_ledger_at_the_old_default_place_is_refused(tmp_path, state_home):
    fleet = FakeFleet()
    fleet.add_many(2)
    old = tmp_path / 'reports' / 'state'
    old.mkdir(parents=True)
    (old / 'r1.json').write_text(json.dumps({'version': 2, 'run_id': 'r1', 'phones': {}}))
    with pytest.raises(TaskFailed) as caught:
        make_task(fleet, tmp_path).run(fleet.targets())
    text = str(caught.value)
    assert 'Run id r1 has a ledger at %s' % (old / 'r1.json') in text and str(state_home / 'rolling_reboot') in text
    assert '-e rolling_reboot_state_dir=%s' % old in text and text.endswith('Nothing was sent.')
    assert sum(fleet.commands().values()) == 0
    # given explicitly, the old place is simply the state directory
    result = make_task(fleet, tmp_path, state_dir=str(old)).run(fleet.targets())
    assert result['ledger'] == str(old / 'r1.json') and result['summary']['rebooted'] == 2


def test_sigterm_writes_what_was_done_and_says_how_to_resume(tmp_path, state_home):
    fleet = FakeFleet()
    fleet.add_many(4)
    lines = []

    def terminate(clock):
        if fleet.phones['gs001'].commands:
            os.kill(os.getpid(), signal.SIGTERM)  # what ansible-playbook forwards to its worker
    fleet.clock.on_sleep = terminate
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TaskFailed) as caught:
        make_task(fleet, tmp_path, lines=lines, batch_size=2).run(fleet.targets())
    fleet.clock.on_sleep = None
    assert signal.getsignal(signal.SIGTERM) is before, 'the handlers are put back'
    text = str(caught.value)
    assert text.startswith('The rolling reboot r1 stopped, interrupted by SIGTERM: 0 rebooted, 2 in flight')
    assert 'To resume, run again with the same run id (-e rolling_reboot_run_id=r1' in text
    assert 'Report: %s' % (tmp_path / 'reports' / 'rolling_reboot.json') in text and lines[-1] == text
    report = json.loads((tmp_path / 'reports' / 'rolling_reboot.json').read_text())
    assert report['summary']['stopped_reason'] == 'interrupted'
    ledger = json.loads((state_home / 'rolling_reboot' / 'r1.json').read_text())['phones']
    assert sorted(entry['state'] for entry in ledger.values()) == ['sent', 'sent']

    fleet.clock.advance(1.0)
    result = make_task(fleet, tmp_path, batch_size=2).run(fleet.targets())
    assert result['summary']['rebooted'] == 4 and fleet.commands() == dict((name, 1) for name in fleet.phones)


def test_reports_that_cannot_be_written_are_a_sentence(tmp_path, state_home, monkeypatch):
    fleet = FakeFleet()
    fleet.add_many(1)

    def full(registry, report, directory, formats, directories=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(directory, 'rolling_reboot.json'))
    monkeypatch.setattr(rolling_task, 'write_reports', full)
    with pytest.raises(TaskFailed) as caught:
        make_task(fleet, tmp_path).run(fleet.targets())
    assert str(caught.value) == ('The rolling reboot ran (1 rebooted, 0 failed) but its report could not be written: cannot '
                                 'write %s: no space is left on the device.' % (tmp_path / 'reports' / 'rolling_reboot.json'))


def test_a_symlinked_lock_stops_the_task_before_any_phone(tmp_path, state_home):
    fleet = FakeFleet()
    fleet.add_many(1)
    state = state_home / 'rolling_reboot'
    state.mkdir(parents=True)
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    (state / 'rolling_reboot.lock').symlink_to(victim)
    with pytest.raises(TaskFailed) as caught:
        make_task(fleet, tmp_path).run(fleet.targets())
    assert 'it is a symbolic link' in str(caught.value) and str(caught.value).endswith('Nothing was sent.')
    assert victim.read_text() == 'precious' and fleet.phones['gs001'].requests == 0


def test_a_signal_after_the_last_batch_waits_for_the_reports_then_ends_as_asked(tmp_path, state_home, monkeypatch):
    fleet = FakeFleet()
    fleet.add_many(2)
    delivered = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: delivered.append(
        (number, (tmp_path / 'reports' / 'rolling_reboot.json').exists())))
    real_write = RollingTask._write

    def write_after_a_signal(self, report):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the reports are being written
        return real_write(self, report)
    monkeypatch.setattr(RollingTask, '_write', write_after_a_signal)
    try:
        result = make_task(fleet, tmp_path).run(fleet.targets())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result['summary']['rebooted'] == 2
    assert delivered == [(signal.SIGTERM, True)], 'handed to the handler it interrupted, once the reports were written'
