"""What a newcomer meets, and what one phone, a full disk or a killed controller cannot do, through real ansible-playbook
runs against the simulator: the play recap never blames a healthy phone, phones without a passcode, misspelt role
variables, numbers as people write them, messages that say why, hostile text from phones, a report set that is kept
whole, and an audit that stops when ansible-playbook is killed."""

import csv
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
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUDIT = REPO / 'playbooks' / 'registration_audit.yml'
REBOOT = REPO / 'playbooks' / 'rolling_reboot.yml'
FLEET_HOST = 'grandstream-fleet'
REPORT_FILES = ('registration_audit.json', 'registration_audit.csv', 'registration_audit.junit.xml', 'registration_audit.html',
                'registration_audit.prom')


def csv_inventory(fleet, directory, columns=None):
    directory.mkdir(parents=True, exist_ok=True)
    fleet.write_csv(directory / 'phones.csv', columns=columns)
    config = directory / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    return config


def play_recap(output):
    """{host: {'ok': n, 'failed': n, 'rescued': n, ...}} from the PLAY RECAP of an ansible-playbook run."""
    assert 'PLAY RECAP' in output, output[-3000:]
    recap = {}
    for line in output[output.index('PLAY RECAP'):].splitlines()[1:]:
        match = re.match(r'^(\S+)\s+:\s+(.*)$', line)
        if match:
            recap[match.group(1)] = dict((key, int(value)) for key, value in re.findall(r'(\w+)=(\d+)', match.group(2)))
    return recap


def failure_messages(json_output):
    """The ``msg`` of every failed task result of a run with the json stdout callback."""
    run = json.loads(json_output)
    return [result['msg'] for play in run['plays'] for task in play['tasks'] for result in task['hosts'].values()
            if result.get('failed')]


# -- the play recap never blames a healthy phone -------------------------------------------------------------------

@pytest.mark.parametrize('limited', [False, True])
def test_a_failing_threshold_is_never_pinned_on_a_healthy_phone(sim_fleet, run_ansible, tmp_path, limited):
    # The first phone of the play (where the role runs) is healthy; one phone later in the play is not registered.
    fleet = sim_fleet(spec={'phones': [{'count': 3, 'name': 'hq-{n:02d}'}, {'name': 'hq-bad', 'fault': 'unregistered'},
                                       {'name': 'hq-04'}]})
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    extra = ['--limit', 'hq-01,hq-bad,hq-04'] if limited else []
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r'),
                       *extra)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert 'is below the required 100% (registration_audit_fail_under)' in output
    recap = play_recap(output)
    healthy = [phone.spec.name for phone in fleet.phones if phone.spec.name != 'hq-bad']
    assert all(recap.get(name, {}).get('failed', 0) == 0 for name in healthy), recap
    assert recap['hq-01']['ok'] >= 3, 'the role ran on the first phone, and it is not blamed'
    if limited:  # --limit keeps every other host out of the run: the phone that failed the audit carries it, or nobody
        assert FLEET_HOST not in recap and recap.get('hq-bad', {}).get('failed', 0) in (0, 1)
    else:
        assert recap[FLEET_HOST]['failed'] == 1
    assert json.loads((tmp_path / 'r' / 'registration_audit.json').read_text())['summary']['unregistered'] == 1


@pytest.mark.parametrize('limited', [False, True])
def test_a_failing_rolling_reboot_is_never_pinned_on_a_healthy_phone(sim_fleet, run_ansible, tmp_path, limited):
    fleet = sim_fleet(spec={'phones': [{'count': 3, 'name': 'hq-{n:02d}'}, {'name': 'hq-badpw', 'fault': 'wrong_passcode'}]})
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    extra = ['--limit', 'hq-01,hq-badpw'] if limited else []
    # check mode: the preflight finds the phone with the wrong passcode, a problem that fails the run; nothing is sent
    proc = run_ansible('ansible-playbook', '-i', inventory, REBOOT, '--check',
                       '-e', 'rolling_reboot_report_dir=%s' % (tmp_path / 'r'), '-e', 'rolling_reboot_state_dir=%s' % (tmp_path / 's'),
                       *extra)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert not fleet.events(event='command')
    recap = play_recap(output)
    assert all(recap.get(name, {}).get('failed', 0) == 0 for name in ('hq-01', 'hq-02', 'hq-03')), recap
    if not limited:
        assert recap[FLEET_HOST]['failed'] == 1
    assert 'hq-badpw' in output


# -- what a newcomer meets -------------------------------------------------------------------------------------------

def test_phones_without_a_passcode_are_named_once_and_sent_nothing(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=12)
    inventory = csv_inventory(fleet, tmp_path / 'inventory', columns=('name', 'host', 'port', 'site'))
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r'),
                       env={'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.json'})
    output = ' '.join(proc.stdout.split())
    assert proc.returncode == 2
    messages = failure_messages(proc.stdout)
    assert messages, proc.stdout[-3000:]
    for message in messages:  # the threshold's failure, then the verdict play's: each says it once, with the names
        assert message.count('No passcode') == 1 and message.count('GRANDSTREAM_PASSCODE') == 1, message
        assert 'No passcode for 12 phones (gs0001, gs0002,' in message
        assert 'gs0010 and 2 more): set grandstream_passcode or GRANDSTREAM_PASSCODE' in message
        assert 'Not compliant: 12 auth_failed.' in message and 'Phones:' not in message
    assert 'ansible_host' not in output
    assert fleet.events(event='request') == [], 'nothing was sent to a phone without a passcode'
    report = json.loads((tmp_path / 'r' / 'registration_audit.json').read_text())
    assert {(phone['status'], phone['reason'], phone['reachable']) for phone in report['phones']} == {('auth_failed', 'no_passcode', None)}
    assert 'No passcode for 12 phones' in (tmp_path / 'r' / 'registration_audit.html').read_text()


def test_misspelt_variables_are_named_and_numbers_read_as_people_write_them(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=20)
    fleet.phones[5].set_fault('unregistered')
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    reports = '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r')
    # 19 of 20 is 95%: "95%" is 95, and the misspelt threshold is not taken for the real one
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, *reports, '-e', 'registration_audit_fail_under=95%',
                       '-e', 'registration_audit_fail_undr=0')
    output = ' '.join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 0, output[-3000:]
    assert ('registration_audit_fail_undr is not a variable of the role phonefleet.grandstream.registration_audit, so it is '
            'ignored: did you mean registration_audit_fail_under?') in output
    assert 'Registration audit: 19 of 20 phones registered (95% compliant).' in output

    for variable, value, sentence in [
            ('registration_audit_fail_under', '95%%', "registration_audit_fail_under must be a number from 0 to 100, not '95%%'"),
            ('registration_audit_fail_under', 'ninety', "registration_audit_fail_under must be a number from 0 to 100, not 'ninety'"),
            ('registration_audit_deadline', 'soon', "registration_audit_deadline must be a number of at least 0, not 'soon'"),
            ('registration_audit_concurrency', 'many', "registration_audit_concurrency"),
            ('registration_audit_device_info', 'maybe', "registration_audit_device_info")]:
        requests = len(fleet.events(event='request'))
        proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, *reports, '-e', '%s=%s' % (variable, value))
        output = ' '.join((proc.stdout + proc.stderr).split())
        assert proc.returncode == 2 and sentence in output, (variable, output[-2000:])
        assert 'Tagged' not in output and "<class '" not in output, 'no type of the templating engine in a message'
        assert len(fleet.events(event='request')) == requests, 'a bad variable stops the run before any phone'
        assert play_recap(proc.stdout)[FLEET_HOST]['failed'] == 1


def test_the_variables_check_is_one_task_for_the_rolling_reboot_role(run_ansible, tmp_path):
    playbook = tmp_path / 'check.yml'
    playbook.write_text("""
- name: Variables of the rolling reboot
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Warn about rolling_reboot_* variables the role does not know
      phonefleet.grandstream.role_variables_check:
        role: phonefleet.grandstream.rolling_reboot
""")
    proc = run_ansible('ansible-playbook', playbook, '-e', 'rolling_reboot_batchsize=5', '-e', 'rolling_reboot_batch_size=5')
    output = ' '.join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 0, output
    assert ('rolling_reboot_batchsize is not a variable of the role phonefleet.grandstream.rolling_reboot, so it is ignored: '
            'did you mean rolling_reboot_batch_size?') in output
    assert 'rolling_reboot_batch_size is not' not in output


def test_the_message_says_why_per_phone_and_names_factory_passwords(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'count': 2, 'name': 'ok{n}'}, {'name': 'down1', 'fault': 'down'},
                                       {'name': 'forbid', 'fault': 'forbidden_403'},
                                       {'name': 'wp-factory', 'auth': 'session', 'model': 'WP826', 'default_password': True}]})
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r'),
                       '-e', 'registration_audit_fail_under=0', '-e', 'grandstream_timeout=2')
    output = ' '.join(proc.stdout.split())
    assert proc.returncode == 0, output[-3000:]
    assert 'down1 unreachable (connection refused)' in output
    assert 'forbid forbidden (HTTP 403)' in output
    assert '1 still with the factory password (wp-factory)' in output
    assert '1 phone still has the factory password: wp-factory.' in (tmp_path / 'r' / 'registration_audit.html').read_text()
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r'),
                       '-e', 'registration_audit_concurrency=0')
    assert proc.returncode == 2 and 'registration_audit_concurrency must be a number of at least 1, not 0' in proc.stdout


# -- hostile text from a phone ---------------------------------------------------------------------------------------

HOSTILE = '\x1b]0;owned\x07\x1b[2J\ud800\x00\x9b31m\u202e' + 'x' * 3000


def test_hostile_text_from_a_phone_cannot_break_a_report_or_a_terminal(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'evil', 'phone_status': HOSTILE,
         'accounts': [{'sip_id': '\ud800\x1b[31m', 'sip_server': HOSTILE, 'name': HOSTILE, 'register': False}]},
        {'name': 'evil-wp', 'auth': 'session', 'model': 'WP826', 'version': HOSTILE},
        {'name': 'fine'}]})
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'r'
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % reports,
                       '-e', '{"registration_audit_firmware_minimum": {"WP8*": "1.0.3.35"}}', '-e', 'registration_audit_fail_under=0')
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert 'surrogates not allowed' not in output and 'Traceback' not in output
    assert sorted(path.name for path in reports.iterdir()) == sorted(REPORT_FILES), 'every report, no temporary'
    for name in REPORT_FILES:
        text = (reports / name).read_bytes().decode('utf-8')
        assert not re.search('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]', text), '%s can drive a terminal' % name
    report = json.loads((reports / 'registration_audit.json').read_text())
    assert [phone['status'] for phone in report['phones']] == ['unregistered', 'registered', 'registered']
    rows = list(csv.DictReader((reports / 'registration_audit.csv').open(newline='', encoding='utf-8')))
    assert [row['name'] for row in rows] == ['evil', 'evil-wp', 'fine']
    ET.parse(str(reports / 'registration_audit.junit.xml'))
    families = list(text_string_to_metric_families((reports / 'registration_audit.prom').read_text()))
    assert any(family.name == 'grandstream_phone_info' for family in families)


# -- a report set is kept whole ----------------------------------------------------------------------------------------

def test_reports_that_cannot_be_written_leave_the_previous_set_whole(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=3)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'r'
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % reports)
    assert proc.returncode == 0, proc.stdout[-3000:]
    before = dict((name, (reports / name).read_bytes()) for name in REPORT_FILES)
    blocker = tmp_path / 'textfile'
    blocker.write_text('a file where the textfile directory should be')
    fleet.phones[0].set_fault('unregistered')
    proc = run_ansible('ansible-playbook', '-i', inventory, AUDIT, '-e', 'registration_audit_report_dir=%s' % reports,
                       '-e', 'registration_audit_prometheus_dir=%s' % (blocker / 'prom'), '-e', 'registration_audit_fail_under=0')
    output = ' '.join(proc.stdout.split())
    assert proc.returncode == 2
    assert 'The registration audit ran (66.66%% compliant) but its reports could not be written: %s' % (blocker / 'prom') in output
    assert 'Nothing of this run was written; the previous reports were kept as they were' in output
    assert dict((name, (reports / name).read_bytes()) for name in REPORT_FILES) == before, 'the old set, whole'
    assert sorted(path.name for path in reports.iterdir()) == sorted(REPORT_FILES)
    assert play_recap(proc.stdout)[FLEET_HOST]['failed'] == 1


# -- a killed ansible-playbook -------------------------------------------------------------------------------------------

def children(pid):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    fields = handle.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def wait_until(condition, timeout, what):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail('waited %g s for %s' % (timeout, what))
        time.sleep(0.1)


LATENCY = 1.0


def test_the_audit_stops_contacting_phones_when_ansible_playbook_is_killed(sim_fleet, ansible_env, tmp_path):
    fleet = sim_fleet(count=40, latency=LATENCY)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    # 40 phones, 3 requests each, 4 at a time, a second per answer: half a minute of work
    command = [str(BIN / 'ansible-playbook'), '-i', str(inventory), str(AUDIT), '-e', 'registration_audit_concurrency=4',
               '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'r')]
    with open(tmp_path / 'output.txt', 'w') as output:
        proc = subprocess.Popen(command, env=ansible_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: len(fleet.events(event='request')) >= 8, 120, 'the audit to be under way')
        workers = children(proc.pid)
        assert workers, 'the fleet task runs in a worker of ansible-playbook'
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.time()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    contacted = set(event['phone'] for event in fleet.events(event='request'))
    assert len(contacted) < 30, 'the kill came in the middle of the audit'
    # The worker (a session of its own, so the kill did not reach it) sees that its parent is gone and ends.
    wait_until(lambda: not any(alive(pid) for pid in workers), 20, 'the worker to end after its controller')
    grace = LATENCY + 2.0  # an answer to a request sent before the kill is logged when it leaves the phone
    late = [event for event in fleet.events(event='request') if event['wall'] > killed + grace]
    assert late == [], 'phones contacted %.1f s after the kill: %s' % (late[0]['wall'] - killed, late[0]['phone']) if late else ''
    assert not (tmp_path / 'r').exists(), 'a killed audit writes no report'
