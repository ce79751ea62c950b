# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet-check skeleton: a new part plugs into every report, the task result, set_stats and the merge without new
glue; phones without a passcode; messages with why, bounded; the stop when ansible-playbook is gone."""

import csv
import io
import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit, fleet_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import MergeError, merge_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import (
    REGISTRATION_REPORTS, FirmwareReports, RegistrationReports,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.controller import (
    ControllerGone, controller_gone_check, parent_alive_check,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, fan_out
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import FirmwarePolicy
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fleet_phones import (
    ACCOUNT_DOWN, ACCOUNT_OK, healthy, make_targets,
)


def switched_off():
    phone = FixturePhone()
    phone.set_fault('refused')
    return phone


# -- a new part: a toy security-posture check, as the next issue will add one --------------------------------------

class TR069Part(fleet_check.CheckPart):
    """Reads a phone status and calls the phone 'tr069 on' when it is busy: what matters is what it plugs into."""

    name = 'posture'
    fields = {'posture': fleet_check.dict_of(lambda check: isinstance(check, dict) and check.get('result') in
                                             ('pass', 'fail', 'unknown'), 'an object of checks')}
    settings = {'posture_checks': fleet_check.list_of(lambda item: isinstance(item, str), 'a list of check names')}

    def read(self, client, target, data):
        data['tr069'] = client.get_phone_status()['status'] == 'busy'

    def record(self, row, result, target):
        if not result['ok']:
            row['posture'] = {'tr069_enabled': {'result': 'unknown', 'reason': 'not_read'}}
        else:
            failed = (result.get('data') or {}).get('tr069')
            row['posture'] = {'tr069_enabled': {'result': 'fail' if failed else 'pass', 'reason': 'tr069_on' if failed else None}}

    def count(self, rows, summary):
        summary['posture'] = {'tr069_enabled': {'pass': 0, 'fail': 0, 'unknown': 0}}
        for row in rows:
            summary['posture']['tr069_enabled'][row['posture']['tr069_enabled']['result']] += 1

    def settings_of(self, options):
        return {'posture_checks': ['tr069_enabled']}

    def problems(self, report):
        return {'posture_failed': [row['name'] for row in report['phones']
                                   if row['posture']['tr069_enabled']['result'] == 'fail']}

    def sentence(self, report):
        failed = report['summary']['posture']['tr069_enabled']['fail']
        return 'Posture: TR-069 on %d.' % failed if failed else ''


class TR069Reports(fleet_check.ReportPart):
    csv_columns_added = (('tr069_enabled', lambda row: row['posture']['tr069_enabled']['result']),)

    def junit_failure(self, row, report):
        if row['posture']['tr069_enabled']['result'] == 'fail':
            return {'type': 'posture', 'message': 'tr069_enabled: fail', 'text': row['name']}
        return None

    def html_overview(self, report):
        return '<h2>Security posture</h2>\n'

    def prometheus(self, report):
        return [{'name': 'grandstream_phone_posture_pass', 'help': 'Posture.',
                 'samples': [({'name': row['name'], 'check': 'tr069_enabled'},
                              1 if row['posture']['tr069_enabled']['result'] == 'pass' else 0) for row in report['phones']]}]


def posture_audit():
    check = audit.registration_check(policy=FirmwarePolicy())
    check.parts.append(TR069Part())
    family = fleet_check.ReportFamily('registration_audit', 'Audit', [RegistrationReports(), FirmwareReports(), TR069Reports()],
                                      'grandstream_audit')
    return check, family


def phones_for(targets, answers):
    return lambda target: answers[target.name]


def test_a_new_part_shows_in_every_report_the_task_result_set_stats_and_the_merge(tmp_path):
    check, family = posture_audit()
    targets = make_targets(3)
    answers = {'gs0001': healthy(), 'gs0002': healthy(status='busy'), 'gs0003': switched_off()}
    report = check.run(targets, {}, concurrency=2, transport_factory=phones_for(targets, answers))
    rows = dict((row['name'], row) for row in report['phones'])
    assert rows['gs0002']['posture'] == {'tr069_enabled': {'result': 'fail', 'reason': 'tr069_on'}}
    assert rows['gs0003']['posture']['tr069_enabled']['result'] == 'unknown'
    assert report['summary']['posture'] == {'tr069_enabled': {'pass': 1, 'fail': 1, 'unknown': 1}}
    assert list(report['summary'])[-1] == 'compliance_percent', 'the headline figure stays last'
    assert report['audit']['posture_checks'] == ['tr069_enabled'] and report['audit']['required_accounts'] == []

    result = fleet_check.publish(check, family.registry, report, str(tmp_path / 'r'), list(family.registry),
                                 stats_max_names=1)
    assert result['posture_failed'] == ['gs0002'] and result['non_compliant'] == ['gs0003']
    assert result['stats']['posture_failed'] == ['gs0002'] and result['stats']['posture_failed_count'] == 1
    assert result['stats']['summary']['posture']['tr069_enabled']['fail'] == 1
    assert 'Posture: TR-069 on 1.' in result['msg'] and result['msg'].endswith('Report: %s.' % result['report_files']['html'])
    assert result['changed'] is False

    written = tmp_path / 'r'
    header = next(csv.reader(io.StringIO((written / 'registration_audit.csv').read_text())))
    assert header[-1] == 'tr069_enabled' and header[:2] == ['name', 'host']
    assert header.index('reason') > header.index('auth'), 'added columns never move the old ones'
    cases = dict((case.get('name'), case) for case in
                 ET.parse(str(written / 'registration_audit.junit.xml')).getroot().iter('testcase'))
    assert cases['gs0002'].find('failure').get('type') == 'posture', 'a registered phone fails its case for its posture'
    assert cases['gs0003'].find('failure').get('type') == 'unreachable', 'the first part to fail a phone names it'
    assert '<h2>Security posture</h2>' in (written / 'registration_audit.html').read_text()
    prom = (written / 'registration_audit.prom').read_text()
    assert 'grandstream_phone_posture_pass{name="gs0001",check="tr069_enabled"} 1' in prom
    assert 'grandstream_audit_timestamp_seconds ' in prom

    # the merge of two slices keeps the new part's fields, refuses one of the wrong type, and counts it again
    first, second = dict(report), dict(report)
    first['phones'], second['phones'] = report['phones'][:1], report['phones'][1:]
    (tmp_path / 'a.json').write_text(json.dumps(first))
    (tmp_path / 'b.json').write_text(json.dumps(second))
    merged, dummy = merge_reports([str(tmp_path / 'a.json'), str(tmp_path / 'b.json')], posture_audit()[0])
    assert merged['summary']['posture'] == report['summary']['posture']
    assert [row['posture'] for row in merged['phones']] == [row['posture'] for row in report['phones']]
    second['phones'] = [dict(report['phones'][1], posture={'tr069_enabled': 'fail'})]
    (tmp_path / 'b.json').write_text(json.dumps(second))
    with pytest.raises(MergeError) as caught:
        merge_reports([str(tmp_path / 'a.json'), str(tmp_path / 'b.json')], posture_audit()[0])
    assert '%s: phone 1 (gs0002): "posture" must be an object of checks' % (tmp_path / 'b.json') in str(caught.value)


# -- phones the check cannot visit ---------------------------------------------------------------------------------

def test_a_phone_without_a_passcode_is_auth_failed_with_its_reason_and_named_once():
    good = make_targets(1)[0]
    bare = [FleetTarget('gs%04d' % number, variables={'ansible_host': '10.1.4.%d' % number, 'site': 'hq'},
                        problem='its connection variables are unusable: no passcode: ...') for number in range(2, 30)]
    odd = FleetTarget('gs0099', variables={'ansible_host': '10.1.4.99'}, problem="its connection variables are unusable: port")
    check = audit.registration_check()
    targets = [good] + bare + [odd]
    report = check.run(targets, {}, concurrency=5, missing_passcode=frozenset(target.name for target in bare),
                       transport_factory=lambda target: healthy())
    rows = dict((row['name'], row) for row in report['phones'])
    assert rows['gs0002']['status'] == 'auth_failed' and rows['gs0002']['reason'] == 'no_passcode'
    assert rows['gs0002']['error'] == fleet_check.NO_PASSCODE_ERROR and 'ansible_host' not in rows['gs0002']['hint']
    assert rows['gs0002']['reachable'] is None and rows['gs0002']['host'] == '10.1.4.2'
    assert rows['gs0099']['status'] == 'error' and rows['gs0099']['reason'] == 'bad_variables'
    assert rows['gs0001']['status'] == 'registered' and rows['gs0001']['reason'] is None
    message = check.message(report)
    assert message.count('No passcode') == 1 and message.count('GRANDSTREAM_PASSCODE') == 1
    assert 'No passcode for 28 phones (gs0002, gs0003,' in message and 'gs0011 and 18 more)' in message
    assert 'Phones: gs0099 error (its connection variables are unusable).' in message, \
        'the per-phone list does not repeat the phones without a passcode'


def test_missing_passcodes_read_the_variables_as_written_and_the_environment():
    variables = {'a': {}, 'b': {'grandstream_passcode': ''}, 'c': {'grandstream_passcode': '{{ vault_pw }}'},
                 'd': {'grandstream_passcode': 'x'}}
    assert fleet_check.missing_passcodes(['a', 'b', 'c', 'd', 'nowhere'], variables.__getitem__, environ={}) == {'a', 'b'}
    assert fleet_check.missing_passcodes(['a'], variables.__getitem__, environ={'GRANDSTREAM_PASSCODE': 's'}) == frozenset()


# -- messages: why, per phone, bounded -----------------------------------------------------------------------------

@pytest.mark.parametrize('error, why', [
    ('could not be reached (connection refused), tried 2 times.', 'connection refused'),
    ('the phone rejected the passcode (HTTP 401).', 'HTTP 401'),
    ('the answer to api-get_accounts is not CTI JSON (HTTP 200, text/html): \'<html>\'.', 'HTTP 200, text/html'),
    ('did not answer api-get_accounts within 1 s.', 'did not answer api-get_accounts within 1 s'),
    ('the phone answered HTTP 500 to api-get_accounts: \'oops\'.', 'the phone answered HTTP 500 to api-get_accounts'),
    ('\x1b[31m\ud800' + 'x' * 500, None),
    (None, ''),
])
def test_short_why(error, why):
    text = fleet_check.short_why({'error': error})
    if why is None:
        assert len(text) <= 60 and '\x1b' not in text and '\ud800' not in text
    else:
        assert text == why


def test_the_message_says_why_per_phone_and_stays_short_for_10000_phones():
    rows = []
    for number in range(10000):
        status = 'registered' if number % 3 else 'unreachable'
        rows.append({'name': 'gs%05d' % number, 'status': status, 'compliant': status == 'registered',
                     'error': None if status == 'registered' else 'could not be reached (connection refused).' + 'x' * 5000,
                     'firmware_status': 'not_checked', 'default_password': number < 50})
    report = audit.build_report(rows, {})
    message = audit.report_message(report)
    assert 'Phones: gs00000 unreachable (connection refused), gs00003 unreachable (connection refused),' in message
    assert 'and 3324 more.' in message
    assert '50 still with the factory password (gs00000, gs00001,' in message and 'and 40 more)' in message
    assert len(message) < 1500


def test_an_unregistered_phone_has_a_reason_code_and_a_sentence():
    phones = {'gs1': healthy([ACCOUNT_OK, ACCOUNT_DOWN]), 'gs2': healthy([])}
    targets = [FleetTarget(name, CTIConnection('10.1.4.%d' % index, passcode=PASSCODE, name=name)) for index, name in
               enumerate(sorted(phones), 1)]
    report = audit.registration_check().run(targets, {}, concurrency=2, transport_factory=lambda target: phones[target.name])
    rows = dict((row['name'], row) for row in report['phones'])
    assert (rows['gs1']['reason'], rows['gs1']['error']) == ('account_not_registered', 'account 2 (1002@pbx.example.net) is not registered.')
    assert rows['gs2']['reason'] == 'no_account'
    message = audit.report_message(report)
    assert 'gs1 unregistered (account 2 (1002@pbx.example.net) is not registered)' in message


@pytest.mark.parametrize('required, reason', [([1, 4], 'account_missing'), ([3], 'account_not_configured'),
                                              ([2], 'account_not_registered'), ([1], None)])
def test_account_reasons(required, reason):
    accounts = [{'id': 1, 'configured': True, 'registered': True}, {'id': 2, 'configured': True, 'registered': False},
                {'id': 3, 'configured': False, 'registered': False}]
    assert audit.account_verdict(accounts, required)[3] == reason


# -- when ansible-playbook is gone ---------------------------------------------------------------------------------

def test_parent_alive_check_follows_the_parent_id():
    parent = {'pid': 100}
    alive = parent_alive_check(lambda: parent['pid'])
    gone = controller_gone_check(lambda: parent['pid'])
    assert alive() and not gone()
    parent['pid'] = 1  # adopted by init: the parent died
    assert not alive() and gone()


def test_the_fan_out_stops_starting_phones_once_should_stop_is_true():
    started = []
    lock = threading.Lock()
    stop = threading.Event()

    def work(client, target):
        with lock:
            started.append(target.name)
            if len(started) == 3:
                stop.set()
        time.sleep(0.05)
        return {}

    targets = make_targets(40)
    began = time.monotonic()
    results = fan_out(targets, work, concurrency=2, should_stop=stop.is_set, transport_factory=lambda target: FixturePhone())
    assert time.monotonic() - began < 2.0
    assert len(started) <= 4, 'no phone is started once the controller is gone (two were in flight)'
    classes = [result['error_class'] for result in results]
    assert classes.count('not_attempted') >= 36 and classes[-1] == 'not_attempted'


def test_a_check_whose_controller_is_gone_raises_and_reads_no_more():
    phone = healthy()
    calls = {'count': 0}

    def should_stop():
        calls['count'] += 1
        return calls['count'] > 2  # the controller dies after the visit began

    with pytest.raises(ControllerGone) as caught:
        audit.registration_check().run(make_targets(1), {}, concurrency=1, should_stop=should_stop,
                                       transport_factory=lambda target: phone)
    assert 'wrote no report' in str(caught.value)
    assert phone.functions() in ([], ['api-get_accounts'], ['api-get_accounts', 'api-get_phone_status']), \
        'the parts after the stop read nothing'
    assert 'model.define.js' not in phone.functions()


def test_the_report_files_of_the_registry_are_the_check_name():
    assert sorted(name for name, dummy in REGISTRATION_REPORTS.values()) == sorted(
        'registration_audit.%s' % ext for ext in ('json', 'csv', 'junit.xml', 'html', 'prom'))


def test_set_stats_data_is_small_whatever_the_fleet():
    names = ['gs%05d' % number for number in range(10000)]
    data = fleet_check.set_stats_data({'total': 10000}, {'non_compliant': names}, {'json': '/x'}, 100)
    assert len(data['non_compliant']) == 100 and data['non_compliant_count'] == 10000 and data['report_files'] == {'json': '/x'}
    assert list(data) == ['summary', 'non_compliant', 'non_compliant_count', 'report_files']
