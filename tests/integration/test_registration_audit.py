"""The registration_audit role and playbook through real ansible-playbook runs against the simulator (CSV inventory)."""

import csv
import json
import math
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'registration_audit.yml'
REPORT_FILES = ('registration_audit.json', 'registration_audit.csv', 'registration_audit.junit.xml', 'registration_audit.html',
                'registration_audit.prom')
STATUSES = ('registered', 'unregistered', 'unreachable', 'auth_failed', 'locked', 'forbidden', 'error')

# Every fault of the simulator that a read can meet, and the status the audit must give the phone.
FAULTY_PHONES = [
    ('ok_doc', {}, 'registered'),
    ('ok_new', {'firmware': 'new'}, 'registered'),
    ('ok_slow', {'latency': 0.3}, 'registered'),
    ('f_down', {'fault': 'down'}, 'unreachable'),
    ('f_hang', {'fault': 'hang'}, 'unreachable'),
    ('f_reset', {'fault': 'reset'}, 'unreachable'),
    ('f_http500', {'fault': 'http500'}, 'error'),
    ('f_html', {'fault': 'html'}, 'error'),
    ('f_garbage', {'fault': 'garbage'}, 'error'),
    ('f_wrong_shape', {'fault': 'wrong_shape'}, 'error'),
    ('f_wrong_shape_list', {'fault': 'wrong_shape_list'}, 'error'),
    ('f_wrong_body', {'fault': 'wrong_body'}, 'error'),
    ('f_not_found', {'fault': 'not_found'}, 'error'),
    ('f_forbidden_403', {'fault': 'forbidden_403'}, 'forbidden'),
    ('f_forbidden_body', {'fault': 'forbidden_body'}, 'forbidden'),
    ('f_wrong_passcode', {'fault': 'wrong_passcode'}, 'auth_failed'),
    ('f_unauthorized_body', {'fault': ['wrong_passcode', 'unauthorized_body']}, 'auth_failed'),
    ('f_locked', {'fault': 'wrong_passcode', 'lock_threshold': 1}, 'locked'),
    ('f_unregistered', {'fault': 'unregistered'}, 'unregistered'),
    ('f_no_account', {'accounts': []}, 'unregistered'),
    ('f_one_down', {'accounts': [{'sip_id': '2001', 'name': 'a'}, {'sip_id': '2002', 'name': 'b', 'register': False}]}, 'unregistered'),
]


def csv_inventory(fleet, directory):
    directory.mkdir(parents=True, exist_ok=True)
    fleet.write_csv(directory / 'phones.csv')
    config = directory / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    return config


def secrets_of(fleet):
    """Every passcode the phones or the inventory hold (the inventory's wrong ones contain the real ones)."""
    return [phone.spec.passcode for phone in fleet.phones]


def assert_no_secret(text, secrets, where):
    for secret in secrets:
        assert secret not in text, 'a passcode leaked into %s' % where


# -- the Prometheus textfile, read with the Prometheus project's own parser (prometheus_client) -------

def parse_prometheus(text):
    """{family: {'type', 'help', 'samples': [(labels, value)]}}, parsed by prometheus_client.

    On top of the parser: node_exporter's textfile collector drops a whole file with a duplicate series, and the
    format wants a final newline.
    """
    assert text.endswith('\n'), 'the last line must end with a newline'
    families = {}
    series = set()
    for family in text_string_to_metric_families(text):
        assert family.name not in families, 'samples of %s are not grouped together' % family.name
        samples = []
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in series, 'duplicate series %s' % (key,)
            series.add(key)
            samples.append((dict(sample.labels), sample.value))
        families[family.name] = {'type': family.type, 'help': family.documentation, 'samples': samples}
    return families


# -- tests ------------------------------------------------------------------------------------------

def test_every_fault_gets_its_status_and_no_passcode_leaks(sim_fleet, run_ansible, tmp_path):
    spec = {'defaults': {'site': 'hq'}, 'phones': [dict(settings, name=name) for name, settings, dummy in FAULTY_PHONES]}
    spec['phones'][1]['site'] = 'lab <&> "annex"'
    fleet = sim_fleet(spec=spec)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'reports' / 'nested'
    started = time.time()
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '-vvvv',
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', 'grandstream_timeout=1',
                       env={'ANSIBLE_SHOW_CUSTOM_STATS': '1'})
    output = proc.stdout + proc.stderr
    expected = dict((name, status) for name, dummy, status in FAULTY_PHONES)

    # the play fails (compliance < 100) after writing every report, with a summary naming the problem phones
    assert proc.returncode == 2, output[-3000:]
    assert sorted(path.name for path in reports.iterdir()) == sorted(REPORT_FILES)
    assert 'is below the required 100% (registration_audit_fail_under)' in output
    assert 'Traceback' not in output
    assert_no_secret(output, secrets_of(fleet), 'the -vvvv output')
    for name in REPORT_FILES:
        assert_no_secret((reports / name).read_text(), secrets_of(fleet), name)

    report = json.loads((reports / 'registration_audit.json').read_text())
    statuses = dict((phone['name'], phone['status']) for phone in report['phones'])
    assert statuses == expected
    assert [phone['name'] for phone in report['phones']] == [name for name, dummy, dummy in FAULTY_PHONES]
    summary = report['summary']
    assert set(summary) >= set(('total', 'compliance_percent') + STATUSES)
    assert summary['total'] == len(FAULTY_PHONES)
    for status in STATUSES:
        assert summary[status] == list(expected.values()).count(status), status
    assert summary['compliance_percent'] == math.floor(10000.0 * 3 / len(FAULTY_PHONES)) / 100.0
    by_name = dict((phone['name'], phone) for phone in report['phones'])
    for phone in report['phones']:
        assert set(('name', 'host', 'status', 'accounts', 'phone_status', 'error', 'site', 'model', 'hint')) <= set(phone)
        assert (phone['error'] is None) == (phone['status'] == 'registered'), phone
    assert by_name['ok_doc']['phone_status'] == 'available' and by_name['ok_doc']['reachable'] is True
    assert by_name['f_down']['reachable'] is False
    assert by_name['f_locked']['lock_minutes'] >= 1
    assert by_name['f_no_account']['error'] == 'no SIP account is configured on the phone.'
    assert by_name['f_one_down']['error'] == 'account 2 (2002@pbx.example.net) is not registered.'
    assert by_name['f_forbidden_403']['http_status'] == 403
    assert by_name['ok_new']['site'] == 'lab <&> "annex"'

    # the wrong passcode was sent once per phone: a second try would count towards the lockout
    auth_failures = fleet.events(event='auth_failed')
    assert sorted(event['phone'] for event in auth_failures) == ['f_locked', 'f_unauthorized_body', 'f_wrong_passcode']

    rows = list(csv.DictReader((reports / 'registration_audit.csv').open(newline='')))
    assert dict((row['name'], row['status']) for row in rows) == expected

    suite = ET.parse(str(reports / 'registration_audit.junit.xml')).getroot().find('testsuite')
    cases = dict((case.get('name'), case) for case in suite.findall('testcase'))
    assert sorted(cases) == sorted(expected)
    for name, status in expected.items():
        failure = cases[name].find('failure')
        assert (failure is None) == (status == 'registered'), name
        if failure is not None:
            assert failure.get('type') == status
    assert suite.get('failures') == str(len(FAULTY_PHONES) - 3)

    html = (reports / 'registration_audit.html').read_text()
    assert 'lab &lt;&amp;&gt; &quot;annex&quot;' in html and 'lab <&>' not in html
    assert 'Phones that need attention (%d)' % (len(FAULTY_PHONES) - 3) in html
    assert "Action URI Allowed IP List" in html
    assert not re.search(r'(src|href)\s*=|@import|url\(', html)

    families = parse_prometheus((reports / 'registration_audit.prom').read_text())
    registered = dict((labels['name'], value) for labels, value in families['grandstream_phone_registered']['samples'])
    assert registered == dict((name, 1.0 if status == 'registered' else 0.0) for name, status in expected.items())
    reachable = dict((labels['name'], value) for labels, value in families['grandstream_phone_reachable']['samples'])
    assert reachable['f_down'] == reachable['f_hang'] == reachable['f_reset'] == 0.0
    assert reachable['f_html'] == reachable['ok_doc'] == 1.0
    labels = families['grandstream_phone_registered']['samples'][1][0]
    assert labels == {'name': 'ok_new', 'site': 'lab <&> "annex"', 'model': 'GRP2614'}
    (dummy, stamp), = families['grandstream_audit_timestamp_seconds']['samples']
    assert started - 5 <= stamp <= time.time() + 5
    assert [path.name for path in reports.iterdir() if path.name.startswith('.')] == [], 'temporary files left behind'

    # set_stats for AWX: the summary and the names of the phones to look at
    stats = output[output.index('CUSTOM STATS'):]
    assert '"non_compliant_count": %d' % (len(FAULTY_PHONES) - 3) in stats
    assert 'f_locked' in stats and '"compliance_percent"' in stats


def test_compliant_fleet_limit_check_mode_and_readable_output(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=24, site='hq')
    for phone in fleet.phones[20:]:
        phone.set_fault('unregistered')
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'reports'

    # --limit: only the limited phones are audited; they are all registered, so the play passes
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '--limit', 'grandstream[0:19]',
                       '-e', 'registration_audit_report_dir=%s' % reports)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((reports / 'registration_audit.json').read_text())
    assert report['summary']['total'] == 20 and report['summary']['compliance_percent'] == 100.0
    assert 'Registration audit: 20 of 20 phones registered (100% compliant).' in proc.stdout
    # a summary, not a line per phone
    assert len(re.findall(r'^ok: \[', proc.stdout, re.M)) <= 8  # one line per task (of 20 phones), never per phone
    assert len(set(re.findall(r'^ok: \[([^\]]+)\]', proc.stdout, re.M))) == 1
    assert len(proc.stdout.splitlines()) < 40

    # check mode: the audit is read-only and runs fully, reports included; fail_under 80 lets 20 of 24 pass
    (reports / 'registration_audit.json').unlink()
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '--check', '-e', 'registration_audit_fail_under=80',
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', '{"registration_audit_formats": ["json", "prometheus"]}')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((reports / 'registration_audit.json').read_text())
    assert report['summary']['unregistered'] == 4 and report['summary']['compliance_percent'] == 83.33
    assert report['audit']['check_mode'] is True

    # fail_under 90: below the threshold, the play fails with the summary
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '-e', 'registration_audit_fail_under=90',
                       '-e', 'registration_audit_report_dir=%s' % reports)
    assert proc.returncode == 2
    assert 'Compliance 83.33% is below the required 90' in proc.stdout
    assert 'gs0021' in proc.stdout


def test_serial_on_the_play_gets_a_warning(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=4)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    playbook = tmp_path / 'serial.yml'
    playbook.write_text("""
- name: An audit in a play with serial
  hosts: grandstream
  gather_facts: false
  serial: 2
  tasks:
    - name: Audit
      phonefleet.grandstream.fleet_registration_info:
      run_once: true
""")
    proc = run_ansible('ansible-playbook', '-i', inventory, playbook)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = ' '.join((proc.stdout + proc.stderr).split())
    assert 'The play has "serial" (this batch: 2 of 4 hosts)' in output, output


def test_passcode_from_the_environment_required_accounts_and_fail_under_zero(sim_fleet, run_ansible, tmp_path):
    secret = 'Env-Secret-7&x'
    fleet = sim_fleet(count=3, passcode=secret,
                      accounts=[{'sip_id': '3001', 'name': 'main'}, {'sip_id': '3002', 'name': 'spare', 'register': False}])
    directory = tmp_path / 'inventory'
    directory.mkdir()
    fleet.write_csv(directory / 'phones.csv', columns=('name', 'host', 'port', 'site', 'model'))
    (directory / 'phones.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    # host_vars beside the inventory outrank its variables: a phone with an unusable port is reported, not contacted
    bad = fleet.phones[2].spec.name
    (directory / 'host_vars').mkdir()
    (directory / 'host_vars' / ('%s.yml' % bad)).write_text('grandstream_port: eighty\n')
    reports = tmp_path / 'reports'

    # every configured account must be registered: account 2 is not, on every phone; fail_under 0 never fails
    proc = run_ansible('ansible-playbook', '-i', directory / 'phones.grandstream.yml', PLAYBOOK, '-v',
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', 'registration_audit_fail_under=0',
                       env={'GRANDSTREAM_PASSCODE': secret})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((reports / 'registration_audit.json').read_text())
    assert [phone['status'] for phone in report['phones']] == ['unregistered', 'unregistered', 'error']
    # The variable as the user wrote it, and the value (issue 17: name the variable the user set).
    assert report['phones'][2]['error'].startswith("its connection variables are unusable: grandstream_port must be a whole "
                                                   "number, not ")
    assert 'grandstream_port' in report['phones'][2]['hint']
    assert report['phones'][2]['reachable'] is None
    assert not fleet.events(phone=bad)
    assert secret not in proc.stdout + proc.stderr

    # only account 1 is required: compliant (but for the phone with the bad port)
    proc = run_ansible('ansible-playbook', '-i', directory / 'phones.grandstream.yml', PLAYBOOK,
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', '{"registration_audit_accounts": [1]}',
                       '-e', 'registration_audit_fail_under=60',
                       env={'GRANDSTREAM_PASSCODE': secret})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((reports / 'registration_audit.json').read_text())
    assert [phone['status'] for phone in report['phones']] == ['registered', 'registered', 'error']
    assert report['audit']['required_accounts'] == [1]


def test_bad_role_variables_fail_before_any_phone_is_contacted(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=1)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '-e', 'registration_audit_fail_under=150',
                       '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'reports'))
    assert proc.returncode == 2
    assert 'registration_audit_fail_under is a percentage from 0 to 100' in proc.stdout
    proc = run_ansible('ansible-playbook', '-i', inventory, PLAYBOOK, '-e', '{"registration_audit_formats": ["pdf"]}',
                       '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'reports'))
    assert proc.returncode == 2
    assert 'registration_audit_formats' in proc.stdout
    assert fleet.events(event='request') == []
    assert not (tmp_path / 'reports').exists()
