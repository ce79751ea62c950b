"""What a person sees of the rolling reboot, through real ansible-playbook runs against the simulator: progress as it
happens, Ctrl-C that writes the ledger and the report and says how to resume (and the resume reboots no phone twice),
check mode that never overwrites the last report and says the window is closed, the per-user ledger whatever the
current directory, a symlinked lock refused, the HTML report and the reasons of the problem phones in the summary.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_rolling_reboot import (  # noqa: E402  pylint: disable=wrong-import-position
    FAST_PHONES, SLOW_FIRST_BATCH, Run, commands_per_phone, reboots_per_phone, run_playbook, wait_for_reboots,
    window_not_now,
)


def stream(run, env, *extra):
    """Start the playbook in a process group of its own (a terminal's foreground job), its output unbuffered."""
    return subprocess.Popen(run.command(*extra), env=dict(env, PYTHONUNBUFFERED='1'), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_progress_is_printed_as_phones_go_down_come_back_and_fail(sim_fleet, ansible_env, tmp_path):
    fleet = sim_fleet(spec={'defaults': dict(FAST_PHONES, down_time=2.0), 'phones': [
        {'count': 2, 'name': 'a{n}'}, {'name': 'never-back', 'fault': 'never_back'}, {'count': 3, 'name': 'b{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3, rolling_reboot_max_fail_percent=100)
    seen = []  # (line, phones of the second batch rebooted when the line arrived)
    with stream(run, ansible_env) as proc:
        for line in proc.stdout:
            second = [name for name in reboots_per_phone(fleet) if name.startswith('b')]
            seen.append((line.rstrip('\n'), second))
        proc.wait(timeout=120)
    lines = [line for line, dummy in seen]

    def first(text):
        return next((index, line, second) for index, (line, second) in enumerate(seen) if text in line)
    down_index, down, second_then = first('Batch 1 of 2: of 3 phones, 3 down')
    assert second_then == [], 'printed while the first batch was rebooting, long before the second one started'
    back_index, dummy, dummy2 = first('Batch 1 of 2: of 3 phones, 3 down, 2 back')
    failed_index, failed, second_then = first('failed (never_up): never-back (')
    end_index, dummy, dummy2 = first('Batch 1 of 2: 3 sent, 2 rebooted, 1 failed')
    assert down_index < back_index < failed_index < end_index, lines
    assert second_then == [], 'the failure is named when it happens, before the next batch'
    assert failed.startswith('Batch 1 of 2: failed (never_up): never-back (') and 'reboot_timeout (4 s)' in failed
    assert 'Batch 2 of 2: 3 sent, 3 rebooted, 0 failed' in '\n'.join(lines)
    assert not [line for line in lines if 'of 3:' in line], 'the batch count never changes'
    assert 'Problem phones: never-back (never_up).' in '\n'.join(lines), 'the summary gives each problem phone its reason'


def test_ctrl_c_writes_the_ledger_and_the_report_and_the_resume_reboots_no_phone_twice(
        sim_fleet, run_ansible, ansible_env, tmp_path):
    fleet = sim_fleet(spec={'defaults': dict(FAST_PHONES, down_time=1.0), 'phones': SLOW_FIRST_BATCH})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3, rolling_reboot_reboot_timeout=20)
    first_batch = ['a1', 'a2', 'a3']

    proc = stream(run, ansible_env)
    wait_for_reboots(fleet, proc, first_batch)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the terminal's foreground process group
    output = proc.communicate(timeout=60)[0]

    assert proc.returncode != 0
    assert 'User interrupted execution' in output, output
    # ansible-playbook forwards Ctrl-C to its worker as SIGINT, then stops it with SIGTERM: whichever arrives first
    assert re.search(r'The rolling reboot test-run stopped, interrupted by SIG(INT|TERM): 0 rebooted, 3 in flight', output), output
    assert 'To resume, run again with the same run id (-e rolling_reboot_run_id=test-run' in output, output
    assert 'Ledger: %s' % run.ledger_path() in output and 'Report: %s' % (run.report_dir / 'rolling_reboot.json') in output
    assert 'Traceback' not in output
    report = run.report()
    assert report['summary']['stopped_reason'] == 'interrupted'
    assert {name: phone['outcome'] for name, phone in ((p['name'], p) for p in report['phones'])} == dict(
        [(name, 'failed') for name in first_batch] + [('b%d' % n, 'not_attempted') for n in range(1, 5)])
    assert {phone['reason'] for phone in report['phones']} == {'interrupted'}
    ledger = run.ledger()
    assert sorted(name for name, entry in ledger.items() if entry['state'] in ('sending', 'sent')) == first_batch
    time.sleep(1.5)
    assert sorted(reboots_per_phone(fleet)) == first_batch, 'nothing was sent after Ctrl-C'

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert set(reboots_per_phone(fleet).values()) == {1} and len(reboots_per_phone(fleet)) == 7
    assert set(commands_per_phone(fleet).values()) == {1}, 'a phone got a second REBOOT'
    phones = {phone['name']: phone for phone in run.report()['phones']}
    assert {phones[name]['outcome'] for name in first_batch} == {'rebooted'}, phones
    assert all(phones[name]['note'].startswith('checked after the interruption') for name in first_batch)


def test_check_mode_keeps_the_last_report_and_says_the_window_is_closed(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 2, 'name': 'gs{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2)
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    last_report = {path.name: path.read_text() for path in run.report_dir.iterdir()}
    assert sorted(last_report) == ['rolling_reboot.csv', 'rolling_reboot.html', 'rolling_reboot.json',
                                   'rolling_reboot.junit.xml']
    sent = len(fleet.events(event='request'))

    run.set(rolling_reboot_window=window_not_now(), rolling_reboot_run_id='next-night')
    proc, output = run_playbook(run_ansible, run, '--check')

    assert proc.returncode == 0, output
    assert 'closed now (' in output and 'a run started now would reboot nothing and stop at once' in output, output
    assert {name: (run.report_dir / name).read_text() for name in last_report} == last_report, 'the last report is kept'
    plan = run.plan()
    assert plan['summary']['check_mode'] is True and plan['plan']['window_open'] is False
    assert 'Plan: %s' % (run.report_dir / 'rolling_reboot.plan.json') in output
    assert not [event for event in fleet.events(event='request')[sent:] if event.get('function') == 'api-sys_operation']


def test_the_default_ledger_is_per_user_whatever_the_current_directory(sim_fleet, run_ansible, private_state_dir,
                                                                       tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 2, 'name': 'gs{n}'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=2, rolling_reboot_run_id='per-user-ledger')
    del run.variables['rolling_reboot_state_dir']
    run.set()
    ledger = private_state_dir / 'rolling_reboot' / 'per-user-ledger.json'
    for directory in ('monday', 'tuesday'):
        (tmp_path / directory).mkdir()
        proc = run_ansible(*run.command(), cwd=tmp_path / directory)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert 'Ledger: %s.' % ledger in output, output
    assert set(run.outcomes().values()) == {'already_done'}, 'the second run, from another directory, resumed'
    assert run.report()['summary']['ledger'] == str(ledger) and run.report()['settings']['ledger'] == str(ledger)
    assert reboots_per_phone(fleet) == {'gs1': 1, 'gs2': 1}

    # A ledger left where versions before 0.2.0 kept it (state under the report directory) is never ignored.
    run.set(rolling_reboot_run_id='old-place')
    (run.report_dir / 'state').mkdir()
    (run.report_dir / 'state' / 'old-place.json').write_text(json.dumps({'version': 2, 'run_id': 'old-place', 'phones': {}}))
    before = len(fleet.events(event='request'))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode != 0
    assert 'Run id old-place has a ledger at %s' % (run.report_dir / 'state' / 'old-place.json') in output, output
    assert 'Nothing was sent' in output and len(fleet.events(event='request')) == before


def test_a_symlinked_lock_is_refused_and_its_target_untouched(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [{'count': 2, 'name': 'gs{n}'}]})
    run = Run(fleet, tmp_path)
    run.state_dir.mkdir()
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious\n')
    (run.state_dir / 'rolling_reboot.lock').symlink_to(victim)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert 'cannot open the lock %s: it is a symbolic link' % (run.state_dir / 'rolling_reboot.lock') in output, output
    assert 'Nothing was sent' in output and 'Traceback' not in output and '[Errno' not in output
    assert victim.read_text() == 'precious\n' and not fleet.events(event='request')


def test_the_html_report_names_the_problem_phones_with_what_happened(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        {'count': 2, 'name': 'gs{n}'}, {'name': 'no-down', 'fault': 'no_down'}, {'name': 'badpw', 'fault': 'wrong_passcode'}]})
    run = Run(fleet, tmp_path, rolling_reboot_batch_size=3, rolling_reboot_max_fail_percent=100,
              rolling_reboot_down_timeout=1)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert 'Problem phones: no-down (never_down), badpw (auth_failed).' in output, output
    page = (run.report_dir / 'rolling_reboot.html').read_text()
    assert page.startswith('<!DOCTYPE html>') and 'Phones that need attention (2)' in page
    assert 'no-down (' in page and 'still answering' in page and '>never_down<' in page and '>auth_failed<' in page
    assert '<script' not in page
    for phone in fleet.phones:
        assert phone.spec.passcode not in page
