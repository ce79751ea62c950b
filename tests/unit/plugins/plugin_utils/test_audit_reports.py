# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit's report files, written through the report registry."""

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.modules import fleet_registration_info
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import write_reports


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
    for status in audit_reports.STATUS_ORDER:
        summary[status] = len([item for item in phones if item['status'] == status])
    summary['compliance_percent'] = 100.0 * summary['registered'] / len(phones) if phones else 100.0
    return {'summary': summary, 'phones': phones,
            'audit': {'finished_at': '2025-01-02T03:04:05Z', 'finished_epoch': 1735787045.0, 'duration_seconds': 1.5,
                      'required_accounts': []}}


def test_registration_reports_all_formats(tmp_path):
    phones = [phone('gs0001', 'registered'), phone('gs0002', 'unregistered', site='lab'), phone('gs0003', 'unreachable', site=None, model=None),
              phone('gs0004', 'auth_failed', http_status=401), phone('<script>alert(1)</script>', 'error', site='<b>x</b>')]
    report = audit_report(phones)
    directory = tmp_path / 'new' / 'dir'
    written = write_reports(REGISTRATION_REPORTS, report, str(directory), list(REGISTRATION_REPORTS))
    assert sorted(written) == sorted(REGISTRATION_REPORTS)
    assert sorted(os.listdir(str(directory))) == sorted(name for name, render in REGISTRATION_REPORTS.values())

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
    written = write_reports(REGISTRATION_REPORTS, report, str(tmp_path / 'r'), ['json', 'prometheus'],
                            directories={'prometheus': str(tmp_path / 'textfile')})
    assert written == {'json': str(tmp_path / 'r' / 'registration_audit.json'),
                       'prometheus': str(tmp_path / 'textfile' / 'registration_audit.prom')}
    assert os.listdir(str(tmp_path / 'r')) == ['registration_audit.json']
    with pytest.raises(ValueError):
        write_reports(REGISTRATION_REPORTS, report, str(tmp_path), ['pdf'])


def test_registration_html_without_problems_and_many_problems(tmp_path, monkeypatch):
    html = audit_reports.registration_html(audit_report([phone('gs0001', 'registered')]))
    assert 'Every audited phone has its required SIP accounts registered.' in html
    monkeypatch.setattr(audit_reports, 'MAX_HTML_PROBLEMS', 2)
    html = audit_reports.registration_html(audit_report([phone('gs%04d' % number, 'unreachable') for number in range(5)]))
    assert '3 more in registration_audit.csv.' in html


def test_the_module_offers_exactly_the_registered_formats():
    assert list(fleet_registration_info.REPORT_FORMATS) == list(REGISTRATION_REPORTS)
