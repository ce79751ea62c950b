"""The rolling_reboot role and playbook through real ansible-playbook runs against the simulator (INI inventory).

Timings are shortened to seconds (the defaults suit real phones, which take minutes). The simulator's event log
is the referee: it proves how many phones were rebooting at once, that no phone in a call was rebooted, that no
phone got two commands, and that check mode sent nothing.
"""

import collections
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'rolling_reboot.yml'
BIN = Path(sys.executable).parent
OUTCOMES = ('rebooted', 'already_done', 'skipped_busy', 'failed', 'unreachable', 'auth_failed', 'not_attempted')

# Phone timings: a reboot takes about 1 s and re-registration 0.3 s more.
FAST_PHONES = {'save_delay': 0.2, 'down_time': 0.6, 'register_delay': 0.3}
FAST_ROLE = {
    'rolling_reboot_poll_interval': 0.2,
    'rolling_reboot_connect_timeout': 2,
    'rolling_reboot_down_timeout': 2,
    'rolling_reboot_reboot_timeout': 4,
    'rolling_reboot_registration_timeout': 2,
    'rolling_reboot_busy_timeout': 3,
}


def inventory(fleet, directory):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / 'phones.ini'
    fleet.write_ini(path)
    return path


def window_around_now(hours_before=1, hours_after=2):
    now = datetime.datetime.now()
    return '%s-%s' % ((now - datetime.timedelta(hours=hours_before)).strftime('%H:%M'),
                      (now + datetime.timedelta(hours=hours_after)).strftime('%H:%M'))


def window_not_now():
    """A one-hour window starting two hours from now: closed now, whatever the time of day."""
    now = datetime.datetime.now()
    return '%s-%s' % ((now + datetime.timedelta(hours=2)).strftime('%H:%M'), (now + datetime.timedelta(hours=3)).strftime('%H:%M'))


class Run(object):
    """A prepared rolling reboot: the inventory, the variables, where the reports and the ledger go."""

    def __init__(self, fleet, tmp_path, **variables):
        self.fleet = fleet
        self.tmp_path = tmp_path
        self.inventory = inventory(fleet, tmp_path / 'inventory')
        self.report_dir = tmp_path / 'reports'
        self.state_dir = tmp_path / 'state'
        self.variables = dict(FAST_ROLE, rolling_reboot_report_dir=str(self.report_dir),
                              rolling_reboot_state_dir=str(self.state_dir), rolling_reboot_run_id='test-run')
        self.variables.update(variables)
        self.vars_file = tmp_path / 'vars.json'
        self.vars_file.write_text(json.dumps(self.variables))

    def command(self, *extra):
        return [str(BIN / 'ansible-playbook'), '-i', str(self.inventory), str(PLAYBOOK), '-e', '@%s' % self.vars_file] + list(extra)

    def report(self):
        return json.loads((self.report_dir / 'rolling_reboot.json').read_text())

    def outcomes(self):
        return {phone['name']: phone['outcome'] for phone in self.report()['phones']}

    def ledger(self):
        return json.loads((self.state_dir / ('%s.json' % self.variables['rolling_reboot_run_id'])).read_text())


def run_playbook(run_ansible, run, *extra):
    proc = run_ansible(*run.command(*extra), timeout=300)  # run_ansible takes an absolute path as it is
    output = proc.stdout + proc.stderr
    for phone in run.fleet.phones:
        assert phone.spec.passcode not in output, 'a passcode leaked into the output'
    return proc, output


def reboots_per_phone(fleet):
    return collections.Counter(event['phone'] for event in fleet.events(event='reboot'))


def most_rebooting_at_once(fleet):
    """Most phones at the same moment between their reboot event and their registered event.

    A phone that never registers again (a failure) counts until the last sign of it: its last request or its down
    event, whichever is later (the role stops probing it when it gives up).
    """
    intervals = []
    for reboot in fleet.events(event='reboot'):
        name = reboot['phone']
        registered = [event['t'] for event in fleet.events(phone=name, event='registered', since=reboot['t'])]
        if registered:
            end = min(registered)
        else:
            later = [event['t'] for event in fleet.events(phone=name, event=('request', 'down', 'up'), since=reboot['t'])]
            end = max(later + [reboot['t']])
        intervals.append((reboot['t'], end))
    points = sorted([(start, 1) for start, dummy in intervals] + [(end, -1) for dummy, end in intervals],
                    key=lambda point: (point[0], point[1]))
    most = current = 0
    for dummy, step in points:
        current += step
        most = max(most, current)
    return most


def call_intervals(fleet, name):
    """(start, end) of every call of a phone; spec calls start before the fleet's first event."""
    intervals = []
    open_calls = {}
    for event in fleet.events(phone=name, event=('call_started', 'call_ended')):
        if event['event'] == 'call_started':
            open_calls[event['line']] = event['t']
        else:
            intervals.append((open_calls.pop(event['line'], float('-inf')), event['t']))
    intervals.extend((start, float('inf')) for start in open_calls.values())
    return intervals


def assert_no_reboot_during_a_call(fleet):
    for reboot in fleet.events(event='reboot'):
        for start, end in call_intervals(fleet, reboot['phone']):
            assert not start <= reboot['t'] < end, '%s was rebooted during a call' % reboot['phone']


MIXED_PHONES = [
    {'count': 6, 'name': 'ok{n:02d}'},
    {'name': 'busy-short', 'call': {'line': 1, 'state': 'connected', 'ends_after': 2.5}},
    {'name': 'busy-long', 'call': {'line': 1, 'state': 'connected', 'ends_after': None}},
    {'name': 'never-back', 'fault': 'never_back'},
    {'name': 'back-unreg', 'fault': 'back_unregistered'},
    {'name': 'drop-reboot', 'fault': 'drop_on_reboot'},
    {'name': 'no-down', 'fault': 'no_down'},
    {'name': 'dead', 'fault': 'down'},
    {'name': 'badpw', 'fault': 'wrong_passcode'},
    {'name': 'newfw', 'firmware': 'new'},
]
MIXED_EXPECTED = dict([('ok%02d' % n, 'rebooted') for n in range(1, 7)] + [
    ('busy-short', 'rebooted'), ('busy-long', 'skipped_busy'), ('never-back', 'failed'), ('back-unreg', 'failed'),
    ('drop-reboot', 'rebooted'), ('no-down', 'failed'), ('dead', 'unreachable'), ('badpw', 'auth_failed'),
    ('newfw', 'rebooted'),
])


def test_mixed_fleet_every_outcome_one_batch_at_a_time(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': MIXED_PHONES})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=4, rolling_reboot_max_fail_percent=100)

    proc, output = run_playbook(run_ansible, run, '-vvvv')  # no passcode even at -vvvv (run_playbook checks)

    # Problem phones fail the play, after the reports.
    assert proc.returncode != 0, output
    assert 'Rolling reboot test-run: 9 of 15 phones rebooted' in output, output
    assert 'to reboot in' in output and 'Batch 1 of' in output and 'ETA' in output, output
    report = run.report()
    assert run.outcomes() == MIXED_EXPECTED
    summary = report['summary']
    assert summary['total'] == 15 and summary['rebooted'] == 9 and summary['failed'] == 3
    assert summary['stopped_reason'] is None
    assert sum(summary[outcome] for outcome in OUTCOMES) == 15
    phones = {phone['name']: phone for phone in report['phones']}
    assert set(phones['ok01']) >= {'name', 'host', 'outcome', 'batch', 'timings', 'error'}
    assert phones['ok01']['timings']['registered_after'] > phones['ok01']['timings']['up_after'] > 0
    assert 'did not answer again within reboot_timeout' in phones['never-back']['error']
    assert 'did not register' in phones['back-unreg']['error']
    assert 'still answering' in phones['no-down']['error']
    assert phones['never-back']['error'].startswith('never-back (')
    assert phones['dead']['error'].startswith('dead (') and phones['badpw']['error'].startswith('badpw (')
    assert phones['busy-short']['batch'] > phones['ok01']['batch'], 'the phone in a call moved to a later batch'
    assert phones['busy-short']['timings']['busy_wait'] > 0
    assert phones['drop-reboot']['note'].startswith('the phone closed the connection')

    # The event log: at most one batch rebooting, nobody rebooted in a call, nobody twice, no command to bad phones.
    assert most_rebooting_at_once(fleet) <= 4
    assert_no_reboot_during_a_call(fleet)
    counts = reboots_per_phone(fleet)
    assert set(counts.values()) == {1}
    assert set(counts) == {name for name, outcome in MIXED_EXPECTED.items() if outcome in ('rebooted', 'failed')}
    assert not fleet.events(phone='busy-long', event='command')

    junit = ET.parse(run.report_dir / 'rolling_reboot.junit.xml').getroot()
    assert junit.get('tests') == '15' and junit.get('failures') == '5' and junit.get('skipped') == '1'
    csv_text = (run.report_dir / 'rolling_reboot.csv').read_text()
    assert csv_text.splitlines()[0].startswith('name,host,outcome,batch')
    for path in list(run.report_dir.iterdir()) + list(run.state_dir.iterdir()):
        text = path.read_text()
        for phone in fleet.phones:
            assert phone.spec.passcode not in text, 'a passcode leaked into %s' % path.name
    ledger = run.ledger()
    assert ledger['phones']['ok01']['state'] == 'rebooted' and ledger['phones']['no-down']['state'] == 'failed'
    assert 'dead' not in ledger['phones'], 'a phone that failed the preflight is never marked for a command'


def test_check_mode_plans_and_sends_nothing(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 5}, {'name': 'badpw', 'fault': 'wrong_passcode'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size='40%', rolling_reboot_canary=1)

    proc, output = run_playbook(run_ansible, run, '--check')

    assert not fleet.events(event='command') and not fleet.events(event='reboot')
    assert 'Check mode: nothing is sent' in output
    assert '5 to reboot in 3 batches of up to 2 (canary batch of 1 first)' in output, output
    report = run.report()
    assert report['summary']['check_mode'] is True
    outcomes = run.outcomes()
    assert outcomes.pop('badpw') == 'auth_failed'
    assert set(outcomes.values()) == {'not_attempted'}
    assert [phone['batch'] for phone in report['phones']][:5] == [1, 2, 2, 3, 3]
    assert not run.state_dir.exists() or not list(run.state_dir.iterdir()), 'check mode writes no ledger'
    assert proc.returncode != 0, 'the auth_failed phone is a problem'


def test_busy_policies_skip_and_force(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        {'name': 'idle'}, {'name': 'busy', 'call': {'line': 1, 'state': 'connected', 'ends_after': None}}]})
    skip = Run(fleet, tmp_path / 'skip', rolling_reboot_busy_policy='skip', rolling_reboot_batch_size=2)

    proc, output = run_playbook(run_ansible, skip)

    assert proc.returncode == 0, output
    assert skip.outcomes() == {'idle': 'rebooted', 'busy': 'skipped_busy'}
    assert not fleet.events(phone='busy', event='command')

    force = Run(fleet, tmp_path / 'force', rolling_reboot_busy_policy='force', rolling_reboot_run_id='force-run')
    proc, output = run_playbook(run_ansible, force)

    assert proc.returncode == 0, output
    assert force.outcomes() == {'idle': 'rebooted', 'busy': 'rebooted'}
    ended = fleet.events(phone='busy', event='call_ended')
    assert ended and ended[0]['cause'] == 'reboot'


def test_a_call_that_starts_after_the_preflight_is_not_rebooted(sim_fleet, ansible_env, tmp_path):
    """The lines are read again right before the command: a call that starts while an earlier batch reboots protects the phone."""
    fleet = sim_fleet(spec={'defaults': dict(FAST_PHONES, down_time=1.5), 'phones': [{'count': 3, 'name': 'p{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=1, rolling_reboot_busy_timeout=1.5)
    late = fleet.phones[2]

    with subprocess.Popen(run.command(), env=ansible_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        fleet.wait_for('reboot', phone='p1', timeout=60)
        late.start_call(line=2, state='connected')
        output = proc.communicate(timeout=120)[0]

    assert run.outcomes() == {'p1': 'rebooted', 'p2': 'rebooted', 'p3': 'skipped_busy'}, output
    assert not fleet.events(phone='p3', event='reboot')


def test_max_fail_percent_stops_and_fails_the_play(sim_fleet, run_ansible, tmp_path):
    phones = [{'name': 'bad1', 'fault': 'no_down'}, {'name': 'bad2', 'fault': 'no_down'}, {'count': 4, 'name': 'ok{n}'}]
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': phones})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2, rolling_reboot_max_fail_percent=25,
              rolling_reboot_down_timeout=1)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert 'more than max_fail_percent (25%)' in output, output
    assert run.outcomes() == {'bad1': 'failed', 'bad2': 'failed', 'ok1': 'not_attempted', 'ok2': 'not_attempted',
                              'ok3': 'not_attempted', 'ok4': 'not_attempted'}
    assert run.report()['summary']['stopped_reason'] == 'max_fail_percent'
    assert sorted(reboots_per_phone(fleet)) == ['bad1', 'bad2']


def test_canary_failure_stops(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'name': 'canary', 'fault': 'back_unregistered'},
                                                                {'count': 3, 'name': 'ok{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3, rolling_reboot_canary=1, rolling_reboot_max_fail_percent=100,
              rolling_reboot_registration_timeout=1)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert 'canary batch did not fully succeed' in output, output
    assert run.outcomes() == {'canary': 'failed', 'ok1': 'not_attempted', 'ok2': 'not_attempted', 'ok3': 'not_attempted'}
    assert list(reboots_per_phone(fleet)) == ['canary']


def test_closed_window_sends_nothing_and_does_not_fail(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 3}]})
    run = Run(fleet, tmp_path, rolling_reboot_window=window_not_now())

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert 'Stopped for the maintenance window' in output and 'rolling_reboot_run_id=test-run' in output, output
    assert not fleet.events(event='command')
    assert set(run.outcomes().values()) == {'not_attempted'}
    assert run.report()['summary']['stopped_reason'] == 'window'

    # The next night: same run id, window open.
    run.variables['rolling_reboot_window'] = window_around_now()
    run.vars_file.write_text(json.dumps(run.variables))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'rebooted'}


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL], ids=['sigterm', 'sigkill'])
def test_interrupted_run_resumes_without_a_second_reboot(sim_fleet, run_ansible, ansible_env, tmp_path, sig):
    fleet = sim_fleet(spec={'defaults': dict(FAST_PHONES, down_time=1.0), 'phones': [{'count': 7, 'name': 'p{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3)
    names = sorted(phone.spec.name for phone in fleet.phones)

    proc = subprocess.Popen(run.command(), env=ansible_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(fleet.events(event='reboot')) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, 'the first batch was not sent'
            fleet.wait_for('reboot', timeout=60)
            time.sleep(0.01)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
    # Ansible's workers run in sessions of their own: after SIGKILL the worker outlives ansible-playbook. It must stop
    # by itself instead of going on with batch 2 (a batch takes about 1.5 s here).
    time.sleep(3)
    first = sorted(reboots_per_phone(fleet))
    assert len(first) == 3, 'the run went on after ansible-playbook was killed: %s' % first
    ledger = run.ledger()
    assert sorted(name for name, entry in ledger['phones'].items() if entry['state'] in ('sending', 'sent')) == first

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    counts = reboots_per_phone(fleet)
    assert sorted(counts) == names and set(counts.values()) == {1}, counts
    phones = {phone['name']: phone for phone in run.report()['phones']}
    for name in names:
        if name in first:
            # Verified, never sent again; already_done when its outcome reached the ledger before the kill.
            assert phones[name]['outcome'] in ('rebooted', 'already_done'), phones[name]
            if phones[name]['outcome'] == 'rebooted':
                assert phones[name]['note'].startswith('verified after resume'), phones[name]
        else:
            assert phones[name]['outcome'] == 'rebooted', phones[name]
    assert most_rebooting_at_once(fleet) <= 3

    # A third run with the same run id: everything already done, nothing sent.
    before = len(fleet.events(event='command'))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'already_done'}
    assert len(fleet.events(event='command')) == before


def test_a_reboot_faster_than_the_poll_interval_is_not_missed(sim_fleet, run_ansible, tmp_path):
    """Down for half a second, polled every 3 s: the port check between polls still sees the phone go down."""
    fleet = sim_fleet(spec={'defaults': {'save_delay': 0.1, 'down_time': 0.5, 'register_delay': 0.2}, 'phones': [{'count': 2}]})
    run = Run(fleet, tmp_path, rolling_reboot_poll_interval=3, rolling_reboot_down_timeout=5, rolling_reboot_batch_size=2)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'rebooted'}
    for phone in run.report()['phones']:
        assert phone['timings']['down_after'] < 1.0, phone
