# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security posture in every report format (CSV, JUnit, HTML, Prometheus, set_stats), kept and counted again by the
merge of sliced audits, and absent when the posture is off."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import MergeError, merge_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import CHECKS, PosturePolicy
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION, REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import publish
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone


def fleet_report(posture=True, fail_on=(), names=None):
    """An audit of four fixture phones: a secured GRP2614, an old GXP1628 (CVE), a WP826 with the factory password and
    a GRP2614 that does not answer."""
    phones = {
        'grp-ok': FixturePhone.of_model('GRP2614', settings={'P1650': '0', 'P276': '1', 'P32052': '10.1.4.1', 'P1409': '0',
                                                             'P240': '1'}),
        'gxp-old': FixturePhone.of_model('GXP1628', version='1.0.7.79'),
        'wp-factory': FixturePhone.of_model('WP826'),
        'grp-down': FixturePhone.of_model('GRP2614'),
    }
    phones['wp-factory'].default_auth = True
    phones['grp-down'].set_fault('refused')
    names = names or sorted(phones)
    check = registration_check(posture=PosturePolicy() if posture else None)
    targets = [FleetTarget(name, connection=phones[name].connection(name=name), variables={'site': 'hq'}) for name in names]
    report = check.run(targets, {}, concurrency=4, transport_factory=lambda target: phones[target.name])
    report['audit']['fail_on_firmware'] = False
    report['audit']['fail_on_posture'] = list(fail_on)
    return check, report


def test_csv_has_a_column_per_check_after_every_earlier_column():
    dummy, report = fleet_report()
    rows = list(csv.DictReader(io.StringIO(REGISTRATION_REPORTS['csv'][1](report))))
    header = list(rows[0])
    assert header[-8:] == ['posture_%s' % check for check in CHECKS] + ['posture_reasons']
    assert header.index('posture_factory_password') > header.index('firmware_error') > header.index('reason')
    by_name = dict((row['name'], row) for row in rows)
    assert by_name['grp-ok']['posture_ssh_enabled'] == 'pass' and by_name['gxp-old']['posture_firmware_cve'] == 'fail'
    assert by_name['wp-factory']['posture_factory_password'] == 'fail'
    assert 'firmware_cve fail: firmware 1.0.7.79 is open to CVE-2026-2329' in by_name['gxp-old']['posture_reasons']
    assert by_name['grp-down']['posture_cti_open'] == 'unknown'
    assert 'cti_open unknown: the phone could not be read (unreachable' in by_name['grp-down']['posture_reasons']


def test_junit_fails_a_phone_for_the_checks_of_fail_on_posture_only():
    dummy, report = fleet_report()
    cases = dict((case.get('name'), case) for case in ET.fromstring(REGISTRATION_REPORTS['junit'][1](report)).iter('testcase'))
    assert cases['wp-factory'].find('failure') is None, 'without fail_on_posture a posture finding fails nothing'
    assert 'posture: fail factory_password' in cases['wp-factory'].find('system-out').text
    assert cases['grp-down'].find('failure').get('type') == 'unreachable'

    dummy, report = fleet_report(fail_on=['factory_password', 'firmware_cve'])
    root = ET.fromstring(REGISTRATION_REPORTS['junit'][1](report))
    cases = dict((case.get('name'), case) for case in root.iter('testcase'))
    failure = cases['wp-factory'].find('failure')
    assert failure.get('type') == 'posture' and failure.get('message') == 'posture: factory_password'
    assert 'What to change: Set an admin password of your own' in failure.text
    assert cases['gxp-old'].find('failure').get('message') == 'posture: firmware_cve'
    assert cases['grp-ok'].find('failure') is None and root.get('failures') == '3'
    properties = dict((item.get('name'), item.get('value')) for item in root.iter('property'))
    assert properties['fail_on_posture'] == 'factory_password,firmware_cve' and properties['posture_fail_firmware_cve'] == '1'


def test_html_has_a_posture_section_per_check_with_the_phones_and_what_to_change():
    dummy, report = fleet_report(fail_on=['ssh_enabled'])
    html = REGISTRATION_REPORTS['html'][1](report)
    assert '<h2>Security posture</h2>' in html and '<h2>Security posture: phones to change</h2>' in html
    assert '<b>ssh_enabled</b> (fails the run)' in html
    for check in CHECKS:
        assert '<b>%s</b>' % check in html
    assert '<h3>factory_password: 1 phone</h3>' in html and 'Set an admin password of your own' in html
    assert '<h3>firmware_cve: 1 phone</h3>' in html and 'CVE-2026-2329' in html
    assert '<p>The firmware has a known CVE. <span class="hint">' in html, 'the first letter up, the rest as it is'
    assert '<h3>Unknown, and why</h3>' in html and 'the phone could not be read (unreachable' in html
    assert '1 phone still has the factory password: wp-factory.' in html, 'the page names the phones with the factory password'
    assert 'Firmware CVEs checked: CVE-2026-2329.' in html


def test_hostile_text_cannot_break_the_html_posture_section():
    dummy, report = fleet_report()
    row = report['phones'][0]
    row['posture']['ssh_enabled'] = {'result': 'fail', 'reason': '<script>alert(1)</script>\x1b[2J'}
    html = REGISTRATION_REPORTS['html'][1](report)
    assert '<script>' not in html and '&lt;script&gt;' in html and '\x1b' not in html


def test_prometheus_has_a_gauge_per_check_and_result_and_per_phone():
    dummy, report = fleet_report()
    prom = REGISTRATION_REPORTS['prometheus'][1](report)
    assert '# TYPE grandstream_audit_posture_phones gauge' in prom
    assert 'grandstream_audit_posture_phones{check="factory_password",result="fail"} 1' in prom
    assert 'grandstream_audit_posture_phones{check="cti_open",result="unknown"} 1' in prom
    assert len([line for line in prom.splitlines() if line.startswith('grandstream_audit_posture_phones{')]) == 21
    assert 'grandstream_phone_posture_failed_checks{name="grp-ok",site="hq",model="GRP2614"} 0' in prom
    assert 'grandstream_phone_posture_failed_checks{name="grp-down",site="hq",model=""} 0' in prom


def test_posture_off_shows_nowhere():
    dummy, report = fleet_report(posture=False)
    assert all('posture' not in row for row in report['phones']) and 'posture' not in report['summary']
    rendered = dict((kind, render(report)) for kind, (dummy, render) in REGISTRATION_REPORTS.items())
    assert 'grandstream_audit_posture_phones' not in rendered['prometheus'] and 'Security posture' not in rendered['html']
    assert 'posture:' not in rendered['junit']
    rows = list(csv.DictReader(io.StringIO(rendered['csv'])))
    assert set(rows[0]['posture_%s' % check] for check in CHECKS) == {''}


def test_the_task_result_and_set_stats(tmp_path):
    check, report = fleet_report(fail_on=['firmware_cve'])
    result = publish(check, REGISTRATION.registry, report, str(tmp_path), ['json'], stats_max_names=5)
    assert result['posture_failed'] == ['gxp-old'] and result['stats']['posture_failed_count'] == 1
    assert result['stats']['summary']['posture']['firmware_cve']['fail'] == 1
    written = json.loads((tmp_path / 'registration_audit.json').read_text())
    assert written['summary']['posture'] == report['summary']['posture']
    assert written['audit']['posture'] is True and written['audit']['posture_cves'] == ['CVE-2026-2329']


def test_the_merge_keeps_the_posture_and_counts_it_again(tmp_path):
    dummy, whole = fleet_report()
    first, second = dict(whole), dict(whole)
    first['phones'], second['phones'] = whole['phones'][:1], whole['phones'][1:]
    (tmp_path / 'a.json').write_text(json.dumps(first))
    (tmp_path / 'b.json').write_text(json.dumps(second))
    merged, slices = merge_reports([str(tmp_path / 'a.json'), str(tmp_path / 'b.json')], registration_check())
    assert len(slices) == 2 and merged['summary']['posture'] == whole['summary']['posture']
    assert [row['posture'] for row in merged['phones']] == [row['posture'] for row in whole['phones']]
    assert merged['audit']['posture'] is True


@pytest.mark.parametrize('change, words', [
    (lambda row: row.update(posture={'ssh_enabled': 'fail'}), '"posture" must be an object of posture checks'),
    (lambda row: row.update(posture={'ssh_enabled': {'result': 'bad'}}), '"posture" must be an object of posture checks'),
    (lambda row: row.update(posture={'firmware_cve': {'result': 'fail', 'reason': 'x', 'cves': 'CVE'}}),
     '"posture" must be an object of posture checks'),
    (lambda row: row.update(posture=[]), '"posture" must be an object of posture checks'),
])
def test_the_merge_refuses_a_malformed_posture_by_file_and_phone(tmp_path, change, words):
    dummy, whole = fleet_report()
    change(whole['phones'][1])
    (tmp_path / 'a.json').write_text(json.dumps(whole))
    with pytest.raises(MergeError) as caught:
        merge_reports([str(tmp_path / 'a.json')], registration_check())
    assert '%s: phone 2 (%s): %s' % (tmp_path / 'a.json', whole['phones'][1]['name'], words) in str(caught.value)


def test_the_merge_refuses_slices_with_and_without_posture_or_other_cves(tmp_path):
    dummy, on = fleet_report(names=['grp-ok', 'wp-factory'])
    dummy, off = fleet_report(posture=False, names=['gxp-old'])
    (tmp_path / 'on.json').write_text(json.dumps(on))
    (tmp_path / 'off.json').write_text(json.dumps(off))
    with pytest.raises(MergeError) as caught:
        merge_reports([str(tmp_path / 'on.json'), str(tmp_path / 'off.json')], registration_check())
    assert 'reports of different audits (posture and posture_cves differ)' in str(caught.value)
    off = dict(on, phones=[dict(on['phones'][0], name='other')], audit=dict(on['audit'], posture_cves=['CVE-2026-2329', 'X']))
    (tmp_path / 'off.json').write_text(json.dumps(off))
    with pytest.raises(MergeError) as caught:
        merge_reports([str(tmp_path / 'on.json'), str(tmp_path / 'off.json')], registration_check())
    assert '(posture_cves differ)' in str(caught.value)
