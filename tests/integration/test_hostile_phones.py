"""Hostile phones against real ansible runs: raw-socket servers on loopback (hostile_phones.py) answer what an attacker
would, beside healthy simulated phones. The audit must write complete, parseable reports with every hostile phone
classified; no output, report or terminal line may carry a passcode, a control character or a lone surrogate; every
module failure names its phone and has an error class."""

import csv
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hostile_phones import HostilePhone, cti_json, http_response

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'registration_audit.yml'
ACCOUNTS_OK = [{'id': 1, 'sip_id': '1001', 'sip_server': 'pbx.example.net', 'name': 'office', 'reg': 1}]
SURROGATE = '"\\ud800"'
DEEP = '[' * 100000 + ']' * 100000


def passcode_of(name):
    return 'Hostile-%s-S3cret' % name


def per_path(accounts=None, status=None, model=None, other=None):
    """An answer function: by path, with defaults of a healthy passcode phone."""
    def answer(request):
        path = request['path']
        if path.endswith('/api-get_accounts'):
            return accounts if accounts is not None else cti_json({'response': 'success', 'body': ACCOUNTS_OK})
        if path.endswith('/api-get_phone_status'):
            return status if status is not None else cti_json({'response': 'success', 'body': 'available', 'misc': '0'})
        if path.endswith('model.define.js'):
            return model if model is not None else http_response(404, '<html>404</html>', 'text/html')
        return other(request) if other else http_response(404, '<html>404</html>', 'text/html')
    return answer


def hostile_behaviours(name_of):
    """name -> (answer function, expected audit status).  ``name_of(name)`` gives the phone's passcode."""
    def lock_echo(request):
        return cti_json({'response': 'error', 'body': 'locked', 'lockTime': passcode_of('lock_echo')})

    def http500_echo(request):
        return http_response(500, 'x' * 74 + passcode_of('http500_echo') + ' internal error', 'text/html')

    def session_reset(request):
        if request['path'].endswith('/access'):
            return cti_json({'response': 'success', 'body': 'n0nce-abcdef'})
        return None  # dologin (and anything else): the connection resets after the request arrived

    amplified = '{"response":"success","body":[%s]}' % ','.join('{"id":%d,"reg":1,"sip_id":"1"}' % n for n in range(29000))
    return {
        'surrogate_status': (per_path(status=cti_json('{"response":"success","body":%s,"misc":%s}' % (SURROGATE, SURROGATE)),
                                      model=cti_json('{"model":"GRP26\\ud800\\u001b[31m"}', content_type='text/javascript')),
                             'registered'),
        'surrogate_accounts': (per_path(accounts=cti_json(
            '{"response":"success","body":[{"id":1,"sip_id":"1001","sip_server":%s,"name":"\\u001b]0;x\\u0007","reg":1}]}'
            % SURROGATE)), 'registered'),
        'lock_echo': (lock_echo, 'locked'),
        'http500_echo': (http500_echo, 'error'),
        'deep_json': (per_path(accounts=cti_json(DEEP)), 'error'),
        'huge_number': (per_path(accounts=cti_json('{"response":"success","body":[{"id":1e400,"sip_id":"1","reg":1}]}')),
                        'registered'),
        'esc_content_type': (per_path(accounts=http_response(200, '<html>x</html>', 'text/html\x1b[31m\x1b]0;owned\x07')),
                             'error'),
        'amplify': (per_path(accounts=cti_json(amplified)), 'registered'),
        'deep_model': (per_path(model=cti_json('{"a":' * 100000 + '1' + '}' * 100000, content_type='text/javascript')),
                       'registered'),
        'session_reset': (session_reset, 'unreachable'),
    }


@pytest.fixture
def mixed_fleet(sim_fleet, tmp_path):
    fleet = sim_fleet(count=3)
    network = '127.%d.%d' % (random.randint(100, 250), random.randint(1, 250))
    behaviours = hostile_behaviours(passcode_of)
    hostile = {}
    for index, (name, (answer, expected)) in enumerate(sorted(behaviours.items()), 1):
        hostile[name] = (HostilePhone('%s.%d' % (network, index), answer, name), expected)
    directory = tmp_path / 'inventory'
    directory.mkdir()
    fleet.write_csv(directory / 'sim.csv')
    with (directory / 'sim.csv').open() as stream:
        rows = list(csv.DictReader(stream))
    columns = ['name', 'host', 'port', 'auth', 'passcode']
    with (directory / 'phones.csv').open('w', newline='') as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row['name'], row['host'], row['port'], row.get('auth') or 'passcode', row['passcode']])
        for name, (phone, dummy) in sorted(hostile.items()):
            writer.writerow([name, phone.host, phone.port, 'session' if name.startswith('session') else 'passcode',
                             passcode_of(name)])
    (directory / 'phones.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    secrets = [passcode_of(name) for name in hostile] + [row['passcode'] for row in rows]
    yield fleet, hostile, directory / 'phones.grandstream.yml', secrets
    for phone, dummy in hostile.values():
        phone.stop()


def assert_clean_text(text, secrets, where):
    assert '\x1b' not in text and '\x07' not in text, 'a control character from a phone reached %s' % where
    for secret in secrets:
        for length in range(6, len(secret) + 1):
            assert secret[:length] not in text, 'the first %d characters of a passcode reached %s' % (length, where)


def test_the_audit_over_hostile_and_healthy_phones_writes_complete_clean_reports(mixed_fleet, run_ansible, tmp_path):
    fleet, hostile, inventory, secrets = mixed_fleet
    reports = tmp_path / 'reports'
    proc = run_ansible('ansible-playbook', PLAYBOOK, '-i', inventory, '-e', 'registration_audit_report_dir=%s' % reports,
                       '-e', 'registration_audit_fail_under=0', '-e', 'registration_audit_deadline=60')
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert 'Traceback' not in output
    assert_clean_text(output, secrets, 'the playbook output')

    report = json.loads((reports / 'registration_audit.json').read_text(encoding='utf-8'))
    phones = dict((phone['name'], phone) for phone in report['phones'])
    assert len(phones) == len(hostile) + 3 == report['summary']['total']
    for name, (dummy, expected) in hostile.items():
        assert phones[name]['status'] == expected, (name, phones[name])
    for phone in fleet.phones:
        assert phones[phone.spec.name]['status'] == 'registered'
    assert phones['lock_echo'].get('lock_minutes') is None
    assert len(phones['amplify']['accounts']) <= 64
    assert phones['deep_model']['model'] is None or 'deep' not in phones['deep_model']['model']
    # The session phone's login answer was lost: its password left once, and was not sent again.
    assert len(hostile['session_reset'][0].credentials_sent()) == 1

    for path in sorted(reports.iterdir()):
        text = path.read_bytes().decode('utf-8')  # every report is valid UTF-8 (no lone surrogate made it)
        assert_clean_text(text, secrets, path.name)
        assert len(text) < 2 * 1024 * 1024, '%s is %d bytes: one phone amplified it' % (path.name, len(text))
    rows = list(csv.DictReader((reports / 'registration_audit.csv').open(encoding='utf-8')))
    assert len(rows) == len(phones)
    ET.parse(str(reports / 'registration_audit.junit.xml'))
    families = list(text_string_to_metric_families((reports / 'registration_audit.prom').read_text(encoding='utf-8')))
    assert families
    html = (reports / 'registration_audit.html').read_text(encoding='utf-8')
    assert all(name in html for name, phone in phones.items() if not phone['compliant'])


@pytest.mark.parametrize('module', ['accounts_info', 'phone_status_info', 'device_info'])
def test_per_phone_modules_name_the_phone_and_an_error_class_whatever_it_sends(mixed_fleet, run_adhoc, module):
    fleet, hostile, inventory, secrets = mixed_fleet
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.%s' % module)
    output = proc.stdout + proc.stderr
    assert 'Traceback' not in output
    assert_clean_text(output, secrets, 'the ad-hoc output')
    for name in hostile:
        result = results[name]
        assert_clean_text(json.dumps(result), secrets, 'the result of %s' % name)
        if result.get('failed'):
            assert result['msg'].startswith(name), result['msg']
            assert result.get('error_class') in ('unreachable', 'auth_failed', 'locked', 'forbidden', 'error', 'rejected'), result
