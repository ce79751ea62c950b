"""The rolling_reboot role and playbook through real ansible-playbook runs against the simulator (INI inventory).

Timings are shortened to seconds (the defaults suit real phones, which take minutes). The simulator's event log
is the referee: it proves how many phones were rebooting at once, that no phone in a call was rebooted, that no
phone got two commands, and that check mode sent nothing.
"""

import collections
import datetime
import json
import os
import re
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
        self.state_dir = Path(self.variables['rolling_reboot_state_dir'])
        self.vars_file = tmp_path / 'vars.json'
        self.vars_file.write_text(json.dumps(self.variables))

    def command(self, *extra):
        return [str(BIN / 'ansible-playbook'), '-i', str(self.inventory), str(PLAYBOOK), '-e', '@%s' % self.vars_file] + list(extra)

    def report(self):
        return json.loads((self.report_dir / 'rolling_reboot.json').read_text())

    def plan(self):
        """What check mode writes instead of the report."""
        return json.loads((self.report_dir / 'rolling_reboot.plan.json').read_text())

    def outcomes(self, report=None):
        return {phone['name']: phone['outcome'] for phone in (report or self.report())['phones']}

    def ledger_path(self):
        return self.state_dir / ('%s.json' % self.variables['rolling_reboot_run_id'])

    def ledger(self):
        """The ledger's entries by inventory name (the ledger itself keys them by address)."""
        return {entry.get('name', key): entry for key, entry in json.loads(self.ledger_path().read_text())['phones'].items()}

    def set(self, **variables):
        self.variables.update(variables)
        self.vars_file.write_text(json.dumps(self.variables))

    def popen(self, env, *extra):
        return subprocess.Popen(self.command(*extra), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)


def run_playbook(run_ansible, run, *extra):
    proc = run_ansible(*run.command(*extra), timeout=300)  # run_ansible takes an absolute path as it is
    output = proc.stdout + proc.stderr
    for phone in run.fleet.phones:
        assert phone.spec.passcode not in output, 'a passcode leaked into the output'
    return proc, output


def reboots_per_phone(fleet):
    return collections.Counter(event['phone'] for event in fleet.events(event='reboot'))


def commands_per_phone(fleet, since=None):
    """REBOOT requests that reached each phone (answered or not), from the event log."""
    return collections.Counter(event['phone'] for event in fleet.events(event='request', since=since)
                               if event.get('function') == 'api-sys_operation')


def wait_for_reboots(fleet, proc, names, timeout=60):
    deadline = time.monotonic() + timeout
    while not set(names) <= set(reboots_per_phone(fleet)):
        assert time.monotonic() < deadline and proc.poll() is None, 'the reboots of %s were not sent' % sorted(names)
        time.sleep(0.02)


def kill(proc, sig):
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


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
    {'name': 'no-account', 'fault': 'unregistered'},
    {'name': 'cti-off', 'fault': 'forbidden_403'},
]
MIXED_EXPECTED = dict([('ok%02d' % n, 'rebooted') for n in range(1, 7)] + [
    ('busy-short', 'rebooted'), ('busy-long', 'skipped_busy'), ('never-back', 'failed'), ('back-unreg', 'failed'),
    ('drop-reboot', 'rebooted'), ('no-down', 'failed'), ('dead', 'unreachable'), ('badpw', 'auth_failed'),
    ('newfw', 'rebooted'), ('no-account', 'rebooted'), ('cti-off', 'failed'),
])
MIXED_REASONS = {'busy-long': 'busy', 'never-back': 'never_up', 'back-unreg': 'unregistered', 'no-down': 'never_down',
                 'dead': 'unreachable', 'badpw': 'auth_failed', 'cti-off': 'forbidden'}


def test_mixed_fleet_every_outcome_one_batch_at_a_time(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': MIXED_PHONES})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=4, rolling_reboot_max_fail_percent=100)

    proc, output = run_playbook(run_ansible, run, '-vvvv')  # no passcode even at -vvvv (run_playbook checks)

    # Problem phones fail the play, after the reports.
    assert proc.returncode != 0, output
    assert 'Rolling reboot test-run: 10 of 17 phones rebooted' in output, output
    assert 'to reboot in' in output and 'Batch 1 of' in output and 'ETA' in output, output
    assert 'ETA, from the measured batch times, is printed after the first batch' in output, output
    report = run.report()
    assert run.outcomes() == MIXED_EXPECTED
    summary = report['summary']
    assert summary['total'] == 17 and summary['rebooted'] == 10 and summary['failed'] == 4
    assert summary['stopped_reason'] is None and summary['resumed'] is False
    assert sum(summary[outcome] for outcome in OUTCOMES) == 17
    # Reboot failures apart from preflight failures: cti-off never got a command.
    assert summary['preflight_failed'] == 1 and summary['attempted'] == 13
    assert summary['failed_percent'] == round(100.0 * 3 / 13, 2)
    assert summary['reasons'] == {reason: 1 for reason in MIXED_REASONS.values()}
    phones = {phone['name']: phone for phone in report['phones']}
    assert set(phones['ok01']) >= {'name', 'host', 'outcome', 'batch', 'timings', 'error', 'reason', 'error_class'}
    assert {name: phone['reason'] for name, phone in phones.items() if phone['reason']} == MIXED_REASONS
    assert {name: phone['error_class'] for name, phone in phones.items() if phone['error_class']} == {
        'dead': 'unreachable', 'badpw': 'auth_failed', 'cti-off': 'forbidden'}
    assert phones['no-account']['note'] == 'no account was registered before the reboot, so registration was not checked.'
    assert phones['ok01']['note'] is None
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
    assert set(counts) == {name for name, outcome in MIXED_EXPECTED.items() if outcome in ('rebooted', 'failed')} - {'cti-off'}
    assert not fleet.events(phone='busy-long', event='command')

    junit = ET.parse(run.report_dir / 'rolling_reboot.junit.xml').getroot()
    assert junit.get('tests') == '17' and junit.get('failures') == '6' and junit.get('skipped') == '1'
    failure_types = {case.get('name'): case.find('failure').get('type') for case in junit.iter('testcase')
                     if case.find('failure') is not None}
    assert failure_types == {name: reason for name, reason in MIXED_REASONS.items() if name != 'busy-long'}
    csv_text = (run.report_dir / 'rolling_reboot.csv').read_text()
    assert csv_text.splitlines()[0].startswith('name,host,outcome,batch') and 'reason,error_class' in csv_text.splitlines()[0]
    for path in list(run.report_dir.iterdir()) + list(run.state_dir.iterdir()):
        text = path.read_text()
        for phone in fleet.phones:
            assert phone.spec.passcode not in text, 'a passcode leaked into %s' % path.name
    ledger = run.ledger()
    assert ledger['ok01']['state'] == 'rebooted' and ledger['no-down']['state'] == 'failed'
    assert ledger['no-down']['reason'] == 'never_down' and ledger['no-down']['checked'] is True
    assert ledger['ok01']['seen_down'] > ledger['ok01']['sent_at'] > ledger['ok01']['sending_at']
    assert 'dead' not in ledger and 'cti-off' not in ledger, 'a phone that failed the preflight is never marked for a command'
    assert 'busy-long' not in ledger, 'a phone found in a call is never marked for a command'


def test_check_mode_plans_and_sends_nothing(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 5}, {'name': 'badpw', 'fault': 'wrong_passcode'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size='40%', rolling_reboot_canary=1)

    proc, output = run_playbook(run_ansible, run, '--check')

    assert not fleet.events(event='command') and not fleet.events(event='reboot')
    assert 'Check mode: nothing is sent' in output
    # 40% of the 6 phones of the run, the one that fails the preflight included.
    assert '5 to reboot in 3 batches of up to 3 (canary batch of 1 first)' in output, output
    report = run.plan()
    assert not (run.report_dir / 'rolling_reboot.json').exists(), 'check mode writes the plan, not a report'
    assert report['summary']['check_mode'] is True
    outcomes = run.outcomes(report)
    assert outcomes.pop('badpw') == 'auth_failed'
    assert set(outcomes.values()) == {'not_attempted'}
    assert [phone['batch'] for phone in report['phones']][:5] == [1, 2, 2, 2, 3]
    assert {phone['reason'] for phone in report['phones'][:5]} == {'check_mode'}
    assert not run.state_dir.exists() or not list(run.state_dir.iterdir()), 'check mode writes no ledger'
    assert proc.returncode != 0, 'the auth_failed phone is a problem'
    assert 'the real run would fail the same way' in output and 'badpw (auth_failed)' in output, output


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
    assert 'Stopped for the maintenance window' in output and '-e rolling_reboot_run_id=test-run' in output, output
    assert not fleet.events(event='command')
    assert set(run.outcomes().values()) == {'not_attempted'}
    assert run.report()['summary']['stopped_reason'] == 'window'
    assert {phone['reason'] for phone in run.report()['phones']} == {'window'}

    # The next night: same run id, window open.
    run.variables['rolling_reboot_window'] = window_around_now()
    run.vars_file.write_text(json.dumps(run.variables))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'rebooted'}


# The first batch of the interrupt tests stays down 10 s: the re-run starts while it is still down (after the 3 s the
# test gives a SIGKILLed worker to stop and ansible-playbook's start), so the re-run proves those reboots.
SLOW_FIRST_BATCH = [{'count': 3, 'name': 'a{n}', 'down_time': 10.0}, {'count': 4, 'name': 'b{n}'}]


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL], ids=['sigterm', 'sigkill'])
def test_interrupted_run_resumes_without_a_second_reboot(sim_fleet, run_ansible, ansible_env, tmp_path, sig):
    fleet = sim_fleet(spec={'defaults': dict(FAST_PHONES, down_time=1.0), 'phones': SLOW_FIRST_BATCH})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3, rolling_reboot_reboot_timeout=20)
    names = sorted(phone.spec.name for phone in fleet.phones)
    first_batch = ['a1', 'a2', 'a3']

    proc = run.popen(ansible_env)
    wait_for_reboots(fleet, proc, first_batch)
    kill(proc, sig)
    # Ansible's workers run in sessions of their own: after SIGKILL the worker outlives ansible-playbook. It must stop
    # by itself instead of going on with batch 2.
    time.sleep(3)
    assert sorted(reboots_per_phone(fleet)) == first_batch, 'the run went on after ansible-playbook was killed'
    ledger = run.ledger()
    assert sorted(name for name, entry in ledger.items() if entry['state'] in ('sending', 'sent')) == first_batch
    rerun_started = time.monotonic()

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    counts = reboots_per_phone(fleet)
    assert sorted(counts) == names and set(counts.values()) == {1}, counts
    assert set(commands_per_phone(fleet).values()) == {1}, 'a phone got a second REBOOT'
    phones = {phone['name']: phone for phone in run.report()['phones']}
    for name in first_batch:
        came_back = [event['t'] for event in fleet.events(phone=name, event='up')]
        if came_back[0] < rerun_started and not ledger[name].get('seen_down'):
            # Honest: it restarted while nobody watched, so its reboot cannot be proven (this machine was too slow).
            assert phones[name]['reason'] == 'unverified', phones[name]
            continue
        # Checked, never sent again: seen down (by the killed attempt or the re-run), back and registered.
        assert phones[name]['outcome'] == 'rebooted', phones[name]
        assert phones[name]['note'].startswith('checked after the interruption'), phones[name]
        assert phones[name]['timings']['registered_after'] is not None, phones[name]
    for name in names:
        if name not in first_batch:
            assert phones[name]['outcome'] == 'rebooted', phones[name]
    assert run.report()['summary']['resumed'] is True
    assert most_rebooting_at_once(fleet) <= 3

    # A third run with the same run id: everything already done, nothing sent.
    before = len(fleet.events(event='command'))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'already_done'}
    assert len(fleet.events(event='command')) == before


def test_a_run_stopped_before_the_command_left_did_not_mark_it_sent(sim_fleet, run_ansible, ansible_env, tmp_path):
    """The ledger says `sending` only after the last look at the lines: stopped during that look, the phone is fresh."""
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'name': 'slow', 'latency': 1.5}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=1, rolling_reboot_connect_timeout=3)
    phone = fleet.phones[0]

    proc = run.popen(ansible_env)
    # Preflight (lines, accounts), the batch's look (lines, accounts), then the last look at the lines: 1.5 s each.
    deadline = time.monotonic() + 60
    while len(fleet.events(phone='slow', event='request')) < 4:
        assert time.monotonic() < deadline and proc.poll() is None, 'the batch did not start'
        time.sleep(0.02)
    time.sleep(0.3)
    kill(proc, signal.SIGTERM)
    time.sleep(2)
    assert not fleet.events(event='reboot'), 'the command went out after all'
    assert not run.ledger_path().exists() or run.ledger() == {}, run.ledger()

    phone.set_latency(0)
    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert run.outcomes() == {'slow': 'rebooted'}
    assert reboots_per_phone(fleet) == {'slow': 1} and commands_per_phone(fleet) == {'slow': 1}
    assert run.report()['phones'][0]['timings']['down_after'] is not None


def test_a_phone_nobody_saw_restart_after_an_interruption_is_unverified(sim_fleet, run_ansible, ansible_env, tmp_path):
    """Killed right after the commands: the no_down phone never goes down, the slow one is still down at the re-run."""
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        {'name': 'no-down', 'fault': 'no_down'}, {'name': 'slow', 'down_time': 10.0}, {'count': 2, 'name': 'ok{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2, rolling_reboot_max_fail_percent=0,
              rolling_reboot_reboot_timeout=20)

    proc = run.popen(ansible_env)
    wait_for_reboots(fleet, proc, ['no-down', 'slow'])
    kill(proc, signal.SIGKILL)
    time.sleep(3)  # more than down_timeout (2 s) after the command
    rerun_started = time.monotonic()

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0, 'the unverified phone is a problem: check it by hand'
    phones = {phone['name']: phone for phone in run.report()['phones']}
    assert phones['no-down']['outcome'] == 'failed' and phones['no-down']['reason'] == 'unverified', phones['no-down']
    assert 'nobody saw it restart' in phones['no-down']['error'] and 'new run id' in phones['no-down']['error']
    assert 'its accounts are registered' in phones['no-down']['error']
    assert phones['slow']['outcome'] == 'rebooted', phones['slow']
    assert set(commands_per_phone(fleet, since=rerun_started)) == {'ok1', 'ok2'}, 'the re-run sent no command to the first batch'
    # An unverified phone is no evidence that phones fail to reboot: max_fail_percent 0 did not stop the run.
    summary = run.report()['summary']
    assert phones['ok1']['outcome'] == phones['ok2']['outcome'] == 'rebooted'
    assert summary['stopped_reason'] is None and summary['attempted'] == 3 and summary['failed_percent'] == 0
    assert commands_per_phone(fleet) == {'no-down': 1, 'slow': 1, 'ok1': 1, 'ok2': 1}

    # Final for the run id: reported again, nothing sent.
    proc, output = run_playbook(run_ansible, run)
    assert run.outcomes()['no-down'] == 'failed' and run.report()['phones'][0]['reason'] == 'unverified'
    assert commands_per_phone(fleet)['no-down'] == 1


def test_a_failure_is_final_for_its_run_id(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'name': 'ok'}, {'name': 'no-down', 'fault': 'no_down'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2, rolling_reboot_max_fail_percent=100, rolling_reboot_down_timeout=1)

    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode != 0
    assert run.outcomes() == {'ok': 'rebooted', 'no-down': 'failed'}
    sent = len(fleet.events(event='request'))

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0, output
    assert run.outcomes() == {'ok': 'already_done', 'no-down': 'failed'}
    phone = run.report()['phones'][1]
    assert phone['reason'] == 'never_down' and 'still answering' in phone['error'], phone
    assert 'A new run id reboots it again' in phone['note'], phone
    assert len(fleet.events(event='request')) == sent, 'the re-run contacted no phone'
    summary = run.report()['summary']
    assert summary['resumed'] is True and summary['attempted'] == 0 and summary['preflight_failed'] == 0


def test_a_run_that_waited_for_the_lock_reads_the_ledger_after_it(sim_fleet, ansible_env, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 3, 'name': 'gs{n}'}]})
    state = str(tmp_path / 'state')
    first = Run(fleet, tmp_path / 'a', rolling_reboot_batch_size=1, rolling_reboot_batch_pause=0.5, rolling_reboot_state_dir=state)
    second = Run(fleet, tmp_path / 'b', rolling_reboot_batch_size=1, rolling_reboot_batch_pause=0.5, rolling_reboot_state_dir=state)

    proc_a = first.popen(ansible_env)
    wait_for_reboots(fleet, proc_a, ['gs1'])
    time.sleep(0.8)
    proc_b = second.popen(ansible_env)
    output_a = proc_a.communicate(timeout=120)[0]
    output_b = proc_b.communicate(timeout=120)[0]

    assert proc_a.returncode == 0 and proc_b.returncode == 0, output_a + output_b
    assert reboots_per_phone(fleet) == {'gs1': 1, 'gs2': 1, 'gs3': 1}
    assert second.outcomes() == {'gs1': 'already_done', 'gs2': 'already_done', 'gs3': 'already_done'}, output_b


def test_one_run_at_a_time_per_state_dir(sim_fleet, ansible_env, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 3, 'name': 'gs{n}'}]})
    state = str(tmp_path / 'state')
    first = Run(fleet, tmp_path / 'a', rolling_reboot_batch_size=1, rolling_reboot_batch_pause=6,
                rolling_reboot_state_dir=state, rolling_reboot_run_id='night-a')
    second = Run(fleet, tmp_path / 'b', rolling_reboot_batch_size=2, rolling_reboot_state_dir=state,
                 rolling_reboot_run_id='night-b')

    proc_a = first.popen(ansible_env)
    wait_for_reboots(fleet, proc_a, ['gs1'])
    proc_b = second.popen(ansible_env)
    output_b = proc_b.communicate(timeout=120)[0]
    still_running = proc_a.poll() is None
    output_a = proc_a.communicate(timeout=120)[0]

    assert still_running, 'the first run ended before the second one gave up: the test proves nothing'
    assert proc_b.returncode != 0, output_b
    assert re.search(r'another rolling reboot \(run id night-a, process \d+\) is running from the state directory', output_b), output_b
    assert 'Nothing was sent' in output_b, output_b
    assert proc_a.returncode == 0, output_a
    assert reboots_per_phone(fleet) == {'gs1': 1, 'gs2': 1, 'gs3': 1}
    assert most_rebooting_at_once(fleet) == 1
    assert not (tmp_path / 'b' / 'reports').exists()


def test_one_address_is_one_phone(sim_fleet, run_ansible, tmp_path):
    """Two inventory names for one address: one reboot. A renamed host is the same phone for its run id."""
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 3, 'name': 'gs{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2)
    lines = run.inventory.read_text().splitlines()
    gs1 = next(line for line in lines if line.startswith('gs1 '))
    lines.insert(lines.index(gs1) + 1, gs1.replace('gs1 ', 'alias1 ', 1))
    run.inventory.write_text('\n'.join(lines) + '\n')

    proc, output = run_playbook(run_ansible, run)

    assert run.outcomes() == {'gs1': 'rebooted', 'alias1': 'failed', 'gs2': 'rebooted', 'gs3': 'rebooted'}, output
    alias = run.report()['phones'][1]
    assert alias['reason'] == 'duplicate' and 'the same address as gs1' in alias['error'], alias
    assert reboots_per_phone(fleet) == {'gs1': 1, 'gs2': 1, 'gs3': 1}
    assert commands_per_phone(fleet) == {'gs1': 1, 'gs2': 1, 'gs3': 1}
    assert run.report()['summary']['preflight_failed'] == 1

    # gs2 renamed in the inventory, same address, same run id: already done, nothing sent.
    run.inventory.write_text(run.inventory.read_text().replace('\ngs2 ', '\nrenamed2 '))
    before = len(fleet.events(event='request'))
    proc, output = run_playbook(run_ansible, run)
    assert run.outcomes()['renamed2'] == 'already_done', output
    assert '(as gs2)' in run.report()['phones'][2]['note']
    assert not [event for event in fleet.events(event='request')[before:] if event.get('function') == 'api-sys_operation']


def test_percentages_are_of_every_phone_of_the_run(sim_fleet, run_ansible, tmp_path):
    """40% of 10 phones is 4 per batch, also when 4 of them were done by an earlier attempt of the run."""
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 10, 'name': 'gs{n:02d}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size='40%')

    proc, output = run_playbook(run_ansible, run, '--limit', 'gs01,gs02,gs03,gs04')
    assert proc.returncode == 0, output
    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert '6 to reboot in 2 batches of up to 4' in output, output
    assert sorted(run.outcomes().values()) == ['already_done'] * 4 + ['rebooted'] * 6
    assert set(reboots_per_phone(fleet).values()) == {1}


@pytest.mark.parametrize('content, named', [
    ('{"phones": {"gs1": "rebooted"}}', "'gs1': it is str"),
    ('{"phones": {"gs1": {"state": "sent", "batch": "x", "sending_at": 1}}}', "batch is 'x'"),
    ('{"phones": {"gs1": {"state": "sent", "batch": 1, "sending_at": "abc"}}}', "sending_at is 'abc'"),
    ('{"phones": {"gs1": {"state": "sent", "batch": 1}}}', 'does not say when'),
    ('{"phones": []}', 'not a rolling reboot ledger'),
    ('{"phones": {"gs1"', 'cannot read'),
], ids=['entry-not-an-object', 'batch-not-a-number', 'time-not-a-number', 'no-time', 'phones-not-an-object', 'truncated'])
def test_a_bad_ledger_fails_before_anything_is_sent(sim_fleet, run_ansible, tmp_path, content, named):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 2, 'name': 'gs{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2)
    run.state_dir.mkdir()
    run.ledger_path().write_text(content)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert not fleet.events(event='request'), 'no phone was contacted'
    assert str(run.ledger_path()) in output and named in output and 'move the file away' in output, output
    assert 'Nothing was sent' in output and 'Traceback' not in output, output


def test_a_reboot_faster_than_the_poll_interval_is_not_missed(sim_fleet, run_ansible, tmp_path):
    """Down for half a second, polled every 3 s: the port check between polls still sees the phone go down."""
    fleet = sim_fleet(spec={'defaults': {'save_delay': 0.1, 'down_time': 0.5, 'register_delay': 0.2}, 'phones': [{'count': 2}]})
    run = Run(fleet, tmp_path, rolling_reboot_poll_interval=3, rolling_reboot_down_timeout=5, rolling_reboot_batch_size=2)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'rebooted'}
    for phone in run.report()['phones']:
        assert phone['timings']['down_after'] < 1.0, phone
