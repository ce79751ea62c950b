"""The security posture of the registration audit, through real ansible-playbook runs against a simulated fleet of every
model line the simulator has, with varied security settings: every check right per model (the P1650 and P276 polarity
traps), unknown where no source gives the polarity, counts in every format, one login per phone, nothing leaked at
-vvvv, the merge of sliced runs, and what changed since the last audit."""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
AUDIT = REPO / 'playbooks' / 'registration_audit.yml'
MERGE = REPO / 'playbooks' / 'registration_audit_merge.yml'
CHECKS = ('factory_password', 'firmware_cve', 'tr069_enabled', 'provisioning_plain', 'web_plain_http', 'ssh_enabled', 'cti_open')
SID_RE = re.compile(r'\b[0-9a-f]{64}\b')

# Locked down, in each line's own polarity: P1650 HTTPS only is 0 on GRP/GXP and 1 on WP8xx; SSH off is P276 1 on
# GRP/GXP ("Disable SSH") and 0 on WP8xx.  CTI only from loopback (the controller is 127.0.0.1).
LOCKED = {'P1409': '0', 'P6767': '2', 'P212': '2', 'P240': '1', 'P32052': '127.0.0.0/8'}
FLEET = {'phones': [
    {'name': 'grp-secure', 'model': 'GRP2614', 'site': 'hq', 'settings': dict(LOCKED, P1650='0', P276='1')},
    {'name': 'grp-factory', 'model': 'GRP2614', 'site': 'hq', 'default_password': True},
    {'name': 'wp-secure', 'model': 'WP826', 'auth': 'session', 'site': 'hq', 'settings': dict(LOCKED, P1650='1', P276='0')},
    {'name': 'wp-default', 'model': 'WP826', 'auth': 'session', 'site': 'hq'},
    {'name': 'wp-trap', 'model': 'WP826', 'auth': 'session', 'site': 'hq', 'settings': {'P1650': '0', 'P276': '1'}},
    {'name': 'gxp-old', 'model': 'GXP1628', 'auth': 'session_plain', 'version': '1.0.7.79', 'site': 'lab',
     'settings': dict(LOCKED, P1650='0', P276='1')},
    {'name': 'gxp2170-old', 'model': 'GXP2170', 'version': '1.0.9.135', 'site': 'lab', 'settings': {'P212': '2', 'P240': '1'}},
    {'name': 'gxp2170-new', 'model': 'GXP2170', 'auth': 'session', 'version': '1.0.11.3', 'site': 'lab',
     'settings': {'P1650': '2', 'P276': '1', 'P6767': '1'}},
    {'name': 'gsc', 'model': 'GSC3510', 'site': 'lab'},
    {'name': 'odd', 'model': 'HT802', 'site': 'lab'},
    {'name': 'down', 'model': 'GRP2614', 'site': 'lab', 'fault': 'down'},
]}
# What each phone must get: the checks not listed pass.
EXPECTED = {
    'grp-secure': {},
    'grp-factory': {'factory_password': 'fail', 'tr069_enabled': 'fail', 'provisioning_plain': 'fail', 'web_plain_http': 'fail',
                    'ssh_enabled': 'fail', 'cti_open': 'fail'},
    'wp-secure': {},
    # WP8xx recordings: P1650 0 is HTTP (fails), P276 0 is SSH off (passes)
    'wp-default': {'tr069_enabled': 'fail', 'provisioning_plain': 'fail', 'web_plain_http': 'fail', 'cti_open': 'fail'},
    # the GRP/GXP "secure" values on a WP8xx are its insecure ones
    'wp-trap': {'tr069_enabled': 'fail', 'provisioning_plain': 'fail', 'web_plain_http': 'fail', 'ssh_enabled': 'fail',
                'cti_open': 'fail'},
    'gxp-old': {'firmware_cve': 'fail'},
    # older GXP2170: P212 picks the firmware protocol too (no P6767)
    'gxp2170-old': {'web_plain_http': 'fail', 'ssh_enabled': 'fail', 'cti_open': 'fail'},
    'gxp2170-new': {'tr069_enabled': 'fail', 'provisioning_plain': 'fail', 'web_plain_http': 'fail', 'cti_open': 'fail'},
    # GSC35xx: no source gives its P1650 / P276 polarity; its form dialect reads the unknown P6767 as ""
    'gsc': {'provisioning_plain': 'fail', 'web_plain_http': 'unknown', 'ssh_enabled': 'unknown', 'cti_open': 'fail'},
    'odd': {'tr069_enabled': 'unknown', 'provisioning_plain': 'unknown', 'web_plain_http': 'unknown', 'ssh_enabled': 'unknown',
            'cti_open': 'unknown'},
    'down': dict((check, 'unknown') for check in CHECKS),
}


def inventory(fleet, directory):
    directory.mkdir(parents=True, exist_ok=True)
    fleet.write_csv(directory / 'phones.csv')
    config = directory / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\nkeyed_groups:\n  - key: site\n    prefix: site\n')
    return config


def audit(run_ansible, config, reports, *extra, **variables):
    variables = dict({'registration_audit_fail_under': 0, 'registration_audit_report_dir': str(reports)}, **variables)
    proc = run_ansible('ansible-playbook', '-i', config, AUDIT, '-e', json.dumps(variables), *extra)
    return proc, ' '.join((proc.stdout + proc.stderr).split())


def assert_no_secret(text, fleet):
    for phone in fleet.phones:
        assert phone.spec.passcode not in text, 'a password leaked'
    assert not SID_RE.search(text), 'a session id (or a sha256 digest of a password) leaked'


def results(report):
    return dict((row['name'], dict((check, row['posture'][check]['result']) for check in CHECKS)) for row in report['phones'])


def test_every_check_per_model_in_every_format_with_one_login_per_phone(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec=FLEET)
    config = inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'reports'
    proc, output = audit(run_ansible, config, reports, '-vvvv', registration_audit_fail_on_posture=['firmware_cve'])
    assert proc.returncode == 2, output[-3000:]
    assert ('1 phone(s) fail a posture check of registration_audit_fail_on_posture (firmware_cve): gxp-old; the HTML report '
            'says what to change on the phones.') in output
    assert_no_secret(proc.stdout + proc.stderr, fleet)

    report = json.loads((reports / 'registration_audit.json').read_text())
    got = results(report)
    for name, failing in EXPECTED.items():
        assert got[name] == dict((check, failing.get(check, 'pass')) for check in CHECKS), (name, report['phones'])
    rows = dict((row['name'], row) for row in report['phones'])
    assert rows['gxp-old']['posture']['firmware_cve']['cves'] == ['CVE-2026-2329']
    assert rows['grp-factory']['default_password'] is True and rows['grp-factory']['firmware'] == '1.0.5.67', \
        'a passcode phone tells its firmware and factory password through the web login'
    assert 'no source gives what it means on the GSC35xx line' in rows['gsc']['posture']['ssh_enabled']['reason']
    assert 'the collection has no table for the model HT802' in rows['odd']['posture']['cti_open']['reason']
    assert rows['down']['posture']['cti_open']['reason'].startswith('the phone could not be read (unreachable')
    assert 'P276 = 1 on WP826' in rows['wp-trap']['posture']['ssh_enabled']['reason']
    assert 'P212 = 2' in rows['gxp2170-old']['posture']['provisioning_plain']['reason']

    summary = report['summary']['posture']
    for check in CHECKS:
        for result in ('pass', 'fail', 'unknown'):
            assert summary[check][result] == sum(1 for name in got if got[name][check] == result), (check, result)
    assert report['audit']['posture'] is True and report['audit']['fail_on_posture'] == ['firmware_cve']

    # console: the posture line, the phones open to the CVE and with the factory password, by name
    assert 'Posture: 7 phones of 11 fail a check: factory_password 1, firmware_cve 1,' in output
    assert 'Open to CVE-2026-2329: gxp-old.' in output and 'still with the factory password (grp-factory)' in output

    # one login per phone, one settings read, nothing written; none for a phone that is down; none for an unknown model
    for phone in fleet.phones:
        name = phone.spec.name
        logins = fleet.events(phone=name, event='login')
        reads = fleet.events(phone=name, event='settings')
        if name == 'down':
            assert logins == [] and reads == []
            continue
        assert [event['result'] for event in logins] == ['ok'], (name, logins)
        assert len(reads) == (0 if name == 'odd' else 1) and all(event.get('read') for event in reads), (name, reads)
        model_js = [event for event in fleet.events(phone=name, event='request') if 'model.define.js' in (event['path'] or '')]
        assert len(model_js) == (1 if name == 'odd' else 0), (name, 'the model comes with the settings read')
    assert not fleet.events(event='cve_2026_2329'), 'nothing long was ever sent to api.values.get'

    # CSV
    table = dict((row['name'], row) for row in csv.DictReader(io.StringIO((reports / 'registration_audit.csv').read_text())))
    for name, checks in got.items():
        assert dict((check, table[name]['posture_%s' % check]) for check in CHECKS) == checks
    # JUnit: the CVE fails the run, so it fails the phone's case; the other findings are in its output
    cases = dict((case.get('name'), case) for case in ET.parse(str(reports / 'registration_audit.junit.xml')).iter('testcase'))
    assert cases['gxp-old'].find('failure').get('type') == 'posture'
    assert cases['grp-factory'].find('failure') is None and 'fail factory_password' in cases['grp-factory'].find('system-out').text
    # HTML
    html = (reports / 'registration_audit.html').read_text()
    assert '<h2>Security posture</h2>' in html and '<h3>ssh_enabled: %d phones</h3>' % summary['ssh_enabled']['fail'] in html
    assert 'Turn SSH off (P276 = 1 on GRP/GXP phones' in html and 'still has the factory password: grp-factory.' in html
    # Prometheus, parsed as node_exporter would
    families = dict((family.name, family) for family in text_string_to_metric_families((reports / 'registration_audit.prom').read_text()))
    posture = families['grandstream_audit_posture_phones']
    assert posture.type == 'gauge'
    for sample in posture.samples:
        assert sample.value == summary[sample.labels['check']][sample.labels['result']]
    assert len(posture.samples) == 21
    failed = dict((sample.labels['name'], sample.value) for sample in families['grandstream_phone_posture_failed_checks'].samples)
    assert failed['grp-secure'] == 0 and failed['grp-factory'] == 6 and failed['wp-trap'] == 5
    assert_no_secret(json.dumps(report) + html, fleet)


def test_posture_off_costs_no_web_login_on_a_passcode_phone(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'model': 'GRP2614'}, {'name': 'wp', 'model': 'WP826', 'auth': 'session'}]})
    config = inventory(fleet, tmp_path / 'inventory')
    proc, output = audit(run_ansible, config, tmp_path / 'r', registration_audit_posture=False)
    assert proc.returncode == 0, output[-3000:]
    report = json.loads((tmp_path / 'r' / 'registration_audit.json').read_text())
    assert all('posture' not in row for row in report['phones']) and 'posture' not in report['summary']
    assert fleet.events(phone='grp', event='login') == [] and fleet.events(event='settings') == []
    assert len(fleet.events(phone='wp', event='login')) == 1, 'the session phone logs in for its CTI, as before'
    assert 'Posture' not in output
    assert 'grandstream_audit_posture_phones' not in (tmp_path / 'r' / 'registration_audit.prom').read_text()

    proc, output = audit(run_ansible, config, tmp_path / 'r', registration_audit_posture=False,
                         registration_audit_fail_on_posture=['ssh_enabled'])
    assert proc.returncode == 2 and 'fail_on_posture lists ssh_enabled, but posture is false' in output
    proc, output = audit(run_ansible, config, tmp_path / 'r', registration_audit_cves=[{'id': 'CVE-1', 'models': 'GRP*'}])
    assert proc.returncode == 2 and 'cves entry 1 (CVE-1): "models" must be a list' in output and 'Nothing was sent' in output
    assert fleet.events(phone='grp', event='login') == []


def test_what_changed_since_the_last_audit(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'a', 'model': 'GRP2614', 'settings': dict(LOCKED, P1650='0', P276='1')},
        {'name': 'b', 'model': 'GRP2614'},
        {'name': 'c', 'model': 'WP826', 'auth': 'session'},
        {'name': 'd', 'model': 'GRP2614', 'fault': 'unregistered'}]})
    config = inventory(fleet, tmp_path / 'inventory')
    reports = tmp_path / 'reports'
    proc, output = audit(run_ansible, config, reports)
    assert proc.returncode == 0, output[-3000:]
    first = json.loads((reports / 'registration_audit.json').read_text())
    assert first['changes']['previous'] is None and 'no earlier report in' in first['changes']['note']
    assert 'Since the last audit' not in output

    by_name = dict((phone.spec.name, phone) for phone in fleet.phones)
    by_name['a'].set_settings(P1409='1')          # newly failing tr069_enabled
    by_name['b'].set_settings(P276='1')           # fixed: SSH off
    by_name['c'].set_fault('unregistered')        # newly unregistered
    by_name['d'].set_fault(None)                  # registered again
    proc, output = audit(run_ansible, config, reports)
    assert proc.returncode == 0, output[-3000:]
    second = json.loads((reports / 'registration_audit.json').read_text())
    changes = second['changes']
    assert changes['previous'] == {'finished_at': first['audit']['finished_at'], 'phones': 4}
    assert changes['newly_unregistered'] == ['c'] and changes['newly_unreachable'] == []
    assert changes['newly_failing'] == {'tr069_enabled': ['a']}
    assert changes['fixed'] == {'registration': ['d'], 'ssh_enabled': ['b']}
    assert ('Since the last audit (%s): 1 newly unregistered (c); newly failing tr069_enabled 1 (a); fixed: registered again '
            '1 (d), ssh_enabled 1 (b).' % first['audit']['finished_at']) in output
    html = (reports / 'registration_audit.html').read_text()
    assert '<h2>Since the last audit</h2>' in html and 'newly failing <b>tr069_enabled</b>' in html

    # a previous report that is not one is a warning, and this run replaces it
    (reports / 'registration_audit.json').write_text('{"summary": {}, "phones": [{"name": "x", "status": "registered", '
                                                     '"posture": {"ssh_enabled": "yes"}}]}')
    proc, output = audit(run_ansible, config, reports)
    assert proc.returncode == 0, output[-3000:]
    assert '[WARNING]: The changes since the last audit are not known: %s' % (reports / 'registration_audit.json') in output
    assert '"posture" must be an object of posture checks' in output and 'This run replaces it.' in output
    third = json.loads((reports / 'registration_audit.json').read_text())
    assert third['changes']['previous'] is None and third['summary']['total'] == 4


def test_the_merge_keeps_the_posture_and_compares_with_the_previous_merge(sim_fleet, run_ansible, tmp_path):
    chosen = ('grp-secure', 'grp-factory', 'wp-trap', 'gxp-old', 'gsc', 'down')
    fleet = sim_fleet(spec={'phones': [phone for phone in FLEET['phones'] if phone['name'] in chosen]})
    config = inventory(fleet, tmp_path / 'inventory')
    proc, output = audit(run_ansible, config, tmp_path / 'whole')
    assert proc.returncode == 0, output[-3000:]
    whole = json.loads((tmp_path / 'whole' / 'registration_audit.json').read_text())
    for number, limit in enumerate(('site_hq', 'site_lab'), 1):
        proc, output = audit(run_ansible, config, tmp_path / 'launch' / ('job%d' % number), '--limit', limit)
        assert proc.returncode == 0, output[-3000:]
    merged = tmp_path / 'merged'
    merge = ['-e', 'registration_audit_merge_inputs=%s' % (tmp_path / 'launch'), '-e', 'registration_audit_report_dir=%s' % merged,
             '-e', 'registration_audit_fail_under=0']
    proc = run_ansible('ansible-playbook', MERGE, *merge)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads((merged / 'registration_audit.json').read_text())
    assert report['summary']['posture'] == whole['summary']['posture']
    assert results(report) == results(whole)
    assert report['changes']['previous'] is None
    prom = dict((family.name, family) for family in text_string_to_metric_families((merged / 'registration_audit.prom').read_text()))
    assert sum(sample.value for sample in prom['grandstream_audit_posture_phones'].samples) == 7 * 6

    # the next merge compares with this one; fail_on_posture applies to the merged fleet
    proc = run_ansible('ansible-playbook', MERGE, *merge, '-e', '{"registration_audit_fail_on_posture": ["factory_password"]}')
    output = ' '.join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2 and 'registration_audit_fail_on_posture (factory_password): grp-factory;' in output
    assert 'Since the last audit (%s): no change.' % report['audit']['finished_at'] in output
    cases = dict((case.get('name'), case) for case in ET.parse(str(merged / 'registration_audit.junit.xml')).iter('testcase'))
    assert cases['grp-factory'].find('failure').get('type') == 'posture'


def test_a_posture_failure_with_limit_is_pinned_on_the_failing_phone_never_a_healthy_one(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'hq-01', 'model': 'GRP2614'}, {'name': 'hq-02', 'model': 'GRP2614'},
                                       {'name': 'hq-factory', 'model': 'GRP2614', 'default_password': True}]})
    config = inventory(fleet, tmp_path / 'inventory')
    proc, output = audit(run_ansible, config, tmp_path / 'r', '--limit', 'hq-01,hq-factory',
                         registration_audit_fail_on_posture=['factory_password'])
    assert proc.returncode == 2, output[-3000:]
    recap = output[output.index('PLAY RECAP'):]
    assert re.search(r'hq-01 : ok=\d+ changed=0 unreachable=0 failed=0', recap), recap
    # --limit keeps every other host out of the run: the phone that fails the posture carries it, or nobody
    assert 'grandstream-fleet' not in recap and not re.search(r'hq-factory : .* failed=[^01]', recap), recap
    assert 'fail_on_posture (factory_password): hq-factory' in output
