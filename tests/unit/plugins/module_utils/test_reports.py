# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writers: atomic files, CSV, JUnit XML, Prometheus text format, HTML, and the registration audit reports."""

import csv
import io
import json
import os
import re
import stat
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import reports

HOSTILE = 'a"b\\c\n<d>&\'e\x01'


def phone(name, status, site='hq', model='GRP2614', **extra):
    record = {'name': name, 'host': '10.1.4.%d' % (len(name) + 1), 'port': 80, 'site': site, 'model': model, 'status': status,
              'compliant': status == 'registered', 'reachable': status != 'unreachable',
              'accounts': [{'id': 1, 'name': 'office', 'sip_id': '1001', 'sip_server': 'pbx.example.net', 'configured': True,
                            'registered': status == 'registered'},
                           {'id': 2, 'name': '', 'sip_id': '', 'sip_server': '', 'configured': False, 'registered': False}],
              'phone_status': 'available' if status in ('registered', 'unregistered') else None,
              'error': None if status == 'registered' else 'why %s' % name, 'hint': None if status == 'registered' else 'check %s' % name,
              'seconds': 0.1}
    record.update(extra)
    return record


def audit_report(phones):
    summary = {'total': len(phones)}
    for status in reports.STATUS_ORDER:
        summary[status] = len([item for item in phones if item['status'] == status])
    summary['compliance_percent'] = 100.0 * summary['registered'] / len(phones) if phones else 100.0
    return {'summary': summary, 'phones': phones,
            'audit': {'finished_at': '2025-01-02T03:04:05Z', 'finished_epoch': 1735787045.0, 'duration_seconds': 1.5,
                      'required_accounts': []}}


# -- atomic writes ------------------------------------------------------------------------

def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'x.prom'
    path.write_text('old')
    reports.write_atomic(str(path), 'new\n')
    assert path.read_text() == 'new\n'
    assert os.listdir(str(tmp_path)) == ['x.prom']
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_atomic_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / 'x.json'
    path.write_text('old')

    def broken(source, target):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(reports.os, 'replace', broken)
    with pytest.raises(OSError):
        reports.write_atomic(str(path), 'new')
    assert path.read_text() == 'old'
    assert os.listdir(str(tmp_path)) == ['x.json']


# -- CSV ----------------------------------------------------------------------------------

@pytest.mark.parametrize('value, cell', [
    (None, ''), (True, 'true'), (False, 'false'), (3, '3'), (0.5, '0.5'), ('gs0001', 'gs0001'),
    ('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ('+1', "'+1"), ('-1', "'-1"), ('@SUM(A1)', "'@SUM(A1)"),
])
def test_csv_cells(value, cell):
    assert reports.csv_cell(value) == cell


def test_csv_text_round_trips_awkward_text():
    rows = [{'name': 'a,b', 'note': 'line1\nline2 "quoted"'}, {'name': 'c', 'note': None}]
    text = reports.csv_text(rows, [('name', 'name'), ('note', 'note'), ('length', lambda row: len(row['name']))])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [['name', 'note', 'length'], ['a,b', 'line1\nline2 "quoted"', '3'], ['c', '', '1']]


# -- JUnit XML ----------------------------------------------------------------------------

def test_junit_xml_is_valid_and_counts_failures():
    cases = [
        {'name': 'gs0001', 'classname': 'audit.hq', 'time': 0.1},
        {'name': HOSTILE, 'classname': 'audit.hq', 'time': 0.25,
         'failure': {'type': 'unregistered', 'message': HOSTILE, 'text': 'text ' + HOSTILE}},
        {'name': 'gs0003', 'time': 0, 'error': {'type': 'error', 'message': 'boom'}, 'output': 'out'},
        {'name': 'gs0004', 'skipped': 'not asked'},
    ]
    text = reports.junit_xml('registration_audit', cases, timestamp='2025-01-02T03:04:05Z', properties=[('compliance_percent', 25.0)])
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode('utf-8'))
    assert root.tag == 'testsuites'
    suite = root.find('testsuite')
    assert suite.get('tests') == '4' and suite.get('failures') == '1' and suite.get('errors') == '1' and suite.get('skipped') == '1'
    assert suite.get('timestamp') == '2025-01-02T03:04:05Z'
    assert suite.get('time') == '0.350'
    assert suite.find('properties/property').get('value') == '25.0'
    testcases = suite.findall('testcase')
    assert [case.get('name') for case in testcases][0] == 'gs0001'
    hostile = testcases[1]
    # control characters are not allowed in XML 1.0: replaced, everything else survives escaping
    assert hostile.get('name') == 'a"b\\c\n<d>&\'e\ufffd'
    assert hostile.find('failure').get('type') == 'unregistered'
    assert hostile.find('failure').text == 'text a"b\\c\n<d>&\'e\ufffd'
    assert testcases[2].find('error').text == 'boom'
    assert testcases[2].find('system-out').text == 'out'
    assert testcases[3].find('skipped').get('message') == 'not asked'
    assert testcases[2].get('classname') == 'registration_audit'


# -- Prometheus text format ---------------------------------------------------------------

def test_prometheus_text_exact_output_and_escaping():
    text = reports.prometheus_text([
        {'name': 'demo_up', 'help': 'Help with \\ and\nnewline.', 'samples': [
            ({'name': 'gs1', 'site': 'a"b\\c\nd'}, 1), ({'name': 'gs2', 'site': ''}, 0)]},
        {'name': 'demo_ratio', 'type': 'gauge', 'help': 'Ratio.', 'samples': [({}, 0.25), ({'x': 'inf'}, float('inf')), ({'x': 'nan'}, float('nan'))]},
        {'name': 'demo_flag', 'help': 'Flag.', 'samples': [({}, True)]},
    ])
    assert text == (
        '# HELP demo_up Help with \\\\ and\\nnewline.\n'
        '# TYPE demo_up gauge\n'
        'demo_up{name="gs1",site="a\\"b\\\\c\\nd"} 1\n'
        'demo_up{name="gs2",site=""} 0\n'
        '# HELP demo_ratio Ratio.\n'
        '# TYPE demo_ratio gauge\n'
        'demo_ratio 0.25\n'
        'demo_ratio{x="inf"} +Inf\n'
        'demo_ratio{x="nan"} NaN\n'
        '# HELP demo_flag Flag.\n'
        '# TYPE demo_flag gauge\n'
        'demo_flag 1\n'
    )


@pytest.mark.parametrize('family', [
    {'name': '1bad', 'samples': []},
    {'name': 'good', 'type': 'histogram', 'samples': []},
    {'name': 'good', 'samples': [({'bad-label': 'x'}, 1)]},
    {'name': 'good', 'samples': [({'__reserved': 'x'}, 1)]},
])
def test_prometheus_text_rejects_what_the_format_forbids(family):
    with pytest.raises(ValueError):
        reports.prometheus_text([family])


def test_prometheus_family_names_are_unique():
    with pytest.raises(ValueError):
        reports.prometheus_text([{'name': 'x', 'samples': []}, {'name': 'x', 'samples': []}])


# -- HTML ---------------------------------------------------------------------------------

def test_html_pieces_escape():
    page = reports.html_page('<T&>', '<p>body</p>', subtitle='"sub"')
    assert '<title>&lt;T&amp;&gt;</title>' in page
    assert '&quot;sub&quot;' in page
    assert reports.esc(None) == ''
    assert reports.esc('<a href="x">') == '&lt;a href=&quot;x&quot;&gt;'
    assert 'width:100.00%' in reports.html_bar(140)
    assert 'width:0.00%' in reports.html_bar(-3)
    table = reports.html_table(('a', 'b'), [('1', '<b>2</b>')], numeric=(0,))
    assert '<td class="num">1</td><td><b>2</b></td>' in table


# -- the registration audit reports -------------------------------------------------------

def test_registration_reports_all_formats(tmp_path):
    phones = [phone('gs0001', 'registered'), phone('gs0002', 'unregistered', site='lab'), phone('gs0003', 'unreachable', site=None, model=None),
              phone('gs0004', 'auth_failed', http_status=401), phone('<script>alert(1)</script>', 'error', site='<b>x</b>')]
    report = audit_report(phones)
    directory = tmp_path / 'new' / 'dir'
    written = reports.write_registration_reports(report, str(directory))
    assert sorted(written) == sorted(reports.REGISTRATION_FORMATS)
    assert sorted(os.listdir(str(directory))) == sorted(reports.REGISTRATION_FILES.values())

    data = json.loads((directory / 'registration_audit.json').read_text())
    assert data['summary']['total'] == 5
    assert [item['status'] for item in data['phones']] == ['registered', 'unregistered', 'unreachable', 'auth_failed', 'error']

    rows = list(csv.DictReader(io.StringIO((directory / 'registration_audit.csv').read_text())))
    assert rows[0]['name'] == 'gs0001' and rows[0]['status'] == 'registered' and rows[0]['compliant'] == 'true'
    assert rows[0]['accounts_configured'] == '1' and rows[0]['accounts_registered'] == '1'
    assert rows[0]['accounts'] == '1:1001@pbx.example.net:registered'
    assert rows[1]['error'] == 'why gs0002' and rows[1]['hint'] == 'check gs0002'
    assert rows[2]['site'] == ''

    suite = ET.parse(str(directory / 'registration_audit.junit.xml')).getroot().find('testsuite')
    assert suite.get('tests') == '5' and suite.get('failures') == '4'
    failing = dict((case.get('name'), case.find('failure')) for case in suite.findall('testcase'))
    assert failing['gs0001'] is None
    assert failing['gs0004'].get('type') == 'auth_failed'
    assert 'What to check: check gs0004' in failing['gs0004'].text
    assert failing['<script>alert(1)</script>'].get('type') == 'error'

    html = (directory / 'registration_audit.html').read_text()
    assert '<script>' not in html
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in html
    assert '&lt;b&gt;x&lt;/b&gt;' in html
    assert not re.search(r'(src|href)\s*=|@import|url\(', html), 'the page must not load anything'
    assert 'Compliance per site' in html and 'Compliance per model' in html
    assert 'Phones that need attention (4)' in html
    assert 'check gs0002' in html
    assert '(none)' in html  # the phone without a site

    prom = (directory / 'registration_audit.prom').read_text()
    assert 'grandstream_phone_registered{name="gs0001",site="hq",model="GRP2614"} 1\n' in prom
    assert 'grandstream_phone_reachable{name="gs0003",site="",model=""} 0\n' in prom
    assert 'grandstream_phone_audit_status{name="gs0004",site="hq",model="GRP2614",status="auth_failed"} 1\n' in prom
    assert 'grandstream_audit_phones{status="unregistered"} 1\n' in prom
    assert 'grandstream_audit_timestamp_seconds 1735787045.0\n' in prom
    assert 'grandstream_audit_compliance_ratio 0.2\n' in prom


def test_registration_reports_choose_formats_and_prometheus_dir(tmp_path):
    report = audit_report([phone('gs0001', 'registered')])
    written = reports.write_registration_reports(report, str(tmp_path / 'r'), formats=['json', 'prometheus'],
                                                 prometheus_dir=str(tmp_path / 'textfile'))
    assert written == {'json': str(tmp_path / 'r' / 'registration_audit.json'),
                       'prometheus': str(tmp_path / 'textfile' / 'registration_audit.prom')}
    assert os.listdir(str(tmp_path / 'r')) == ['registration_audit.json']
    with pytest.raises(ValueError):
        reports.write_registration_reports(report, str(tmp_path), formats=['pdf'])


def test_registration_html_without_problems_and_many_problems(tmp_path, monkeypatch):
    html = reports.registration_html(audit_report([phone('gs0001', 'registered')]))
    assert 'Every audited phone has its required SIP accounts registered.' in html
    monkeypatch.setattr(reports, 'MAX_HTML_PROBLEMS', 2)
    html = reports.registration_html(audit_report([phone('gs%04d' % number, 'unreachable') for number in range(5)]))
    assert '3 more in registration_audit.csv.' in html
