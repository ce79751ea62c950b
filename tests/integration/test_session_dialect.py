"""The web-session dialect through real ansible runs against the simulator: every module on every dialect, logins
counted, wrong passwords never retried, locks, expired and replaced sessions, no secret in any output, and the
firmware compliance of a mixed fleet."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIALECTS = ('passcode', 'session', 'session_plain')
FAST_REBOOT = {'save_delay': 0.2, 'down_time': 0.6, 'register_delay': 0.3}
SID_RE = re.compile(r'\b[0-9a-f]{64}\b')


def csv_inventory(fleet, tmp_path, extra=''):
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n' + extra)
    return config


def logins(fleet, phone, result=None):
    return fleet.events(phone=phone, event='login', **({'result': result} if result else {}))


def assert_no_secret(text, fleet):
    for phone in fleet.phones:
        assert phone.spec.passcode not in text, 'a password leaked'
    assert not SID_RE.search(text), 'a session id (or a sha256 digest of a password) leaked'


def playbook(tmp_path, tasks):
    path = tmp_path / 'play.yml'
    path.write_text('- hosts: grandstream\n  gather_facts: false\n  tasks:\n' + tasks)
    return path


READ_AND_COMMAND_TASKS = '''
    - name: Accounts
      phonefleet.grandstream.accounts_info:
      register: accounts
    - name: Phone status
      phonefleet.grandstream.phone_status_info:
      register: status
    - name: Lines
      phonefleet.grandstream.line_status_info:
      register: lines
    - name: Device
      phonefleet.grandstream.device_info:
      register: device
    - name: Keys
      phonefleet.grandstream.send_key:
        keys: [VUP]
    - name: End a call that is not there (nothing to do)
      phonefleet.grandstream.phone_operation:
        command: endcall
      register: operation
    - name: Call the reception
      phonefleet.grandstream.make_call:
        number: '2001'
      register: call
    - name: Hang up
      phonefleet.grandstream.phone_operation:
        command: endcall
    - name: Reboot
      phonefleet.grandstream.sys_operation:
        operation: reboot
        down_timeout: 10
        reboot_timeout: 20
        registration_timeout: 20
        poll_interval: 0.5
      register: reboot
    - name: Results
      ansible.builtin.copy:
        dest: "{{ playbook_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'accounts': accounts.summary, 'status': status.status, 'in_use': lines.in_use, 'device': device.device,
                     'operation': operation.changed, 'call': call.state, 'rebooted': reboot.rebooted} | to_json }}"
        mode: '0600'
      delegate_to: localhost
'''


@pytest.mark.parametrize('in_process', ['true', 'false'])
def test_every_module_speaks_every_dialect(sim_fleet, run_ansible, tmp_path, in_process):
    fleet = sim_fleet(spec={'defaults': FAST_REBOOT, 'phones': [
        {'name': 'grp', 'auth': 'passcode', 'model': 'GRP2614'},
        {'name': 'wp', 'auth': 'session', 'model': 'WP826', 'version': '1.0.3.35', 'firmware': 'new'},
        {'name': 'gxp', 'auth': 'session_plain', 'model': 'GXP1628', 'version': '1.0.7.70'}]})
    config = csv_inventory(fleet, tmp_path)
    proc = run_ansible('ansible-playbook', '-i', config, playbook(tmp_path, READ_AND_COMMAND_TASKS), '-vvvv',
                       '-e', 'grandstream_in_process=%s' % in_process)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert_no_secret(output, fleet)
    results = dict((name, json.loads((tmp_path / ('%s.json' % name)).read_text())) for name in ('grp', 'wp', 'gxp'))
    for name, result in results.items():
        assert result['accounts']['all_registered'] is True and result['status'] == 'available', (name, result)
        assert result['operation'] is False and result['call'] in ('dialing', 'calling', 'ringing', 'connected', 'failed')
        assert result['rebooted'] is True, name
    assert results['wp']['device'] == {'model': 'WP826', 'firmware': '1.0.3.35', 'mac': '00:0B:82:00:00:02',
                                       'default_password': False, 'auth': 'session', 'unknown_reason': {}}
    assert results['gxp']['device']['firmware'] == '1.0.7.70' and results['gxp']['device']['auth'] == 'session_plain'
    assert results['grp']['device']['model'] == 'GRP2614' and results['grp']['device']['firmware'] is None
    assert 'passcode dialect does not report it' in results['grp']['device']['unknown_reason']['firmware']
    # One login per phone and task; each is ended by a logout.
    for name in ('wp', 'gxp'):
        ok = logins(fleet, name, 'ok')
        assert len(ok) >= 9, (name, len(ok))
        assert len(fleet.events(phone=name, event='logout')) >= len(ok) - 1, 'every task logs out (but the reboot)'
    assert not logins(fleet, 'grp'), 'a passcode phone is never asked to log in'


def test_a_wrong_password_is_tried_once_per_task_and_says_how_many_attempts_are_left(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'auth': 'session', 'fault': 'wrong_passcode'}]})
    config = csv_inventory(fleet, tmp_path)
    proc, results = run_adhoc(config, 'all', 'phonefleet.grandstream.accounts_info', '-vvvv')
    result = results['wp']
    assert result['error_class'] == 'auth_failed' and '4 attempts left before the phone locks' in result['msg']
    assert len(fleet.events(phone='wp', event='request', function='dologin')) == 1, 'a login is never retried'
    assert not fleet.events(phone='wp', event='request', function='api-get_accounts')
    assert_no_secret(proc.stdout + proc.stderr, fleet)


def test_a_locked_phone_says_for_how_long(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'auth': 'session', 'fault': 'wrong_passcode', 'lock_threshold': 1,
                                        'lock_minutes': 5}]})
    config = csv_inventory(fleet, tmp_path)
    run_adhoc(config, 'all', 'phonefleet.grandstream.accounts_info')
    proc, results = run_adhoc(config, 'all', 'phonefleet.grandstream.accounts_info')
    assert results['wp']['error_class'] == 'locked' and results['wp']['lock_minutes'] == 5
    assert 'locked for 5 more minutes' in results['wp']['msg']


def during(fleet, phone_name, waits):
    """Run each step of ``waits`` (event, fields, step) in a thread once its event has happened, in turn (a phone that
    answers slowly gives it time); returns (stop, join), join() raising what a step raised."""
    import threading  # pylint: disable=import-outside-toplevel
    stop = threading.Event()
    failures = []

    def watch():
        try:
            for event, fields, step in waits:
                while not stop.is_set() and not fleet.events(phone=phone_name, event=event, **fields):
                    stop.wait(0.02)
                if stop.is_set():
                    return
                step()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            failures.append(exc)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def join():
        stop.set()
        thread.join(10)
        if failures:
            raise failures[0]
    return join


def audit_while(fleet, run_ansible, tmp_path, waits):
    """The audit playbook over the fleet while ``during(waits)`` acts on the phone; returns the phone's report row."""
    config = csv_inventory(fleet, tmp_path)
    reports = tmp_path / 'reports'
    join = during(fleet, fleet.phones[0].name, waits)
    proc = run_ansible('ansible-playbook', '-i', config, REPO / 'playbooks' / 'registration_audit.yml',
                       '-e', 'registration_audit_report_dir=%s' % reports)
    join()
    assert proc.returncode == 0, proc.stdout[-3000:]
    return json.loads((reports / 'registration_audit.json').read_text())['phones'][0]


def test_an_expired_session_is_logged_in_again_once_within_a_task(sim_fleet, run_ansible, tmp_path):
    # A phone that answers in 1 s: the thread below has that long to act between two of the audit's calls.
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'auth': 'session', 'latency': 1.0}]})
    phone = fleet.phone('wp')
    # The session expires right after the audit's first call, and lives normally again once the phone noticed.
    row = audit_while(fleet, run_ansible, tmp_path, [
        ('request', {'function': 'api-get_accounts', 'status': 200}, lambda: setattr(phone.spec, 'session_ttl', 0.001)),
        ('session_ended', {'cause': 'expired'}, lambda: setattr(phone.spec, 'session_ttl', 600))])
    assert row['status'] == 'registered' and row['phone_status'] == 'available'
    assert len(fleet.events(phone='wp', event='session_ended', cause='expired')) == 1
    assert len(logins(fleet, 'wp', 'ok')) == 2, 'one login, and one more for the expired session'
    statuses = [event['status'] for event in fleet.events(phone='wp', event='request', function='api-get_phone_status')]
    assert statuses == [401, 200], 'refused once (expired), then answered after the new login'


def test_a_session_ended_by_a_second_login_elsewhere_costs_one_new_login(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'auth': 'session', 'single_session': True, 'latency': 0.5}]})
    phone = fleet.phone('wp')
    # A browser's login on fw 1.0.3.35 ends the audit's session between two of its calls (the simulator's own test
    # shows that a real second login does this: test_simulator_session.py).
    row = audit_while(fleet, run_ansible, tmp_path, [('request', {'function': 'api-get_accounts', 'status': 200},
                                                      lambda: phone.end_sessions('replaced'))])
    assert row['status'] == 'registered' and row['phone_status'] == 'available'
    assert len(fleet.events(phone='wp', event='session_ended', cause='replaced')) == 1
    assert len(logins(fleet, 'wp', 'ok')) == 2, "the audit's login, and its one new login after the replacement"
    statuses = [event['status'] for event in fleet.events(phone='wp', event='request', function='api-get_phone_status')]
    assert statuses == [401, 200]


def test_the_audit_of_a_mixed_fleet_counts_firmware_and_factory_passwords(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'gxp-old', 'auth': 'session_plain', 'model': 'GXP1628', 'version': '1.0.7.70'},
        {'name': 'gxp-new', 'auth': 'session_plain', 'model': 'GXP1630', 'version': '1.0.10.2'},
        {'name': 'gxp-odd', 'auth': 'session', 'model': 'GXP1625', 'version': '1.0.7.81-beta'},
        {'name': 'wp-factory', 'auth': 'session', 'model': 'WP826', 'version': '1.0.3.35', 'default_password': True},
        {'name': 'grp', 'auth': 'passcode', 'model': 'GRP2614'},
        {'name': 'grp-down', 'auth': 'passcode', 'model': 'GRP2612', 'fault': 'down'}]})
    config = csv_inventory(fleet, tmp_path)
    reports = tmp_path / 'reports'
    minimums = json.dumps({'registration_audit_firmware_minimum': {'GXP16*': '1.0.7.81', 'GRP26*': '1.0.5.67'},
                           'registration_audit_fail_under': 0, 'registration_audit_fail_on_firmware': True})
    proc = run_ansible('ansible-playbook', '-i', config, REPO / 'playbooks' / 'registration_audit.yml', '-vvvv',
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', minimums)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, 'fail_on_firmware: an outdated phone fails the run'
    assert "phone(s) run firmware below the minimum for their model (registration_audit_firmware_minimum): gxp-old." in \
        ' '.join(output.split())
    assert_no_secret(output, fleet)
    report = json.loads((reports / 'registration_audit.json').read_text())
    phones = dict((phone['name'], phone) for phone in report['phones'])
    assert {name: phone['firmware_status'] for name, phone in phones.items()} == {
        'gxp-old': 'outdated', 'gxp-new': 'compliant', 'gxp-odd': 'unknown', 'wp-factory': 'no_rule', 'grp': 'unknown',
        'grp-down': 'unknown'}
    assert phones['gxp-odd']['firmware'] == '1.0.7.81-beta', 'an odd version is kept as it is'
    assert phones['grp']['model'] == 'GRP2614' and phones['grp']['model_source'] == 'phone'
    assert phones['grp-down']['model_source'] == 'inventory' and phones['grp-down']['status'] == 'unreachable'
    summary = report['summary']
    assert (summary['firmware_outdated'], summary['firmware_unknown'], summary['default_password']) == (1, 3, 1)
    prom = (reports / 'registration_audit.prom').read_text()
    assert 'grandstream_phone_info{name="gxp-old",site="",model="GXP1628",firmware="1.0.7.70",auth="session_plain"} 1' in prom
    assert 'grandstream_phone_firmware_compliant{name="gxp-old",site="",model="GXP1628"} 0' in prom
    html = (reports / 'registration_audit.html').read_text()
    assert 'Phones below the minimum firmware (1)' in html and '1 phone still has the factory password: wp-factory.' in html
    assert_no_secret(json.dumps(report) + prom + html, fleet)
