# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firmware compliance: versions, patterns, verdicts, and how the audit records and reports them."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit, audit_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import (
    FirmwarePolicy, compare_versions, parse_version,
)

POLICY = FirmwarePolicy({'GXP16*': '1.0.7.81', 'GRP26*': '1.0.5.67', 'grp*': '9.9'})


@pytest.mark.parametrize('text, version', [('1.0.7.81', (1, 0, 7, 81)), (' 1.0.10.1 ', (1, 0, 10, 1)), ('2', (2,)),
                                           ('1.0.7.81b', None), ('V1.0', None), ('', None), ('1..2', None), (None, None),
                                           (107, None)])
def test_parse_version(text, version):
    assert parse_version(text) == version


@pytest.mark.parametrize('left, right, result', [('1.0.10.1', '1.0.9.99', 1), ('1.0', '1.0.0.0', 0), ('1.0.7.80', '1.0.7.81', -1),
                                                 ('2', '1.99.99', 1)])
def test_versions_compare_as_dotted_numbers(left, right, result):
    assert compare_versions(parse_version(left), parse_version(right)) == result


@pytest.mark.parametrize('model, firmware, status, compliant', [
    ('GXP1628', '1.0.7.81', 'compliant', True),
    ('gxp1630', '1.0.7.80', 'outdated', False),       # patterns are case-insensitive
    ('GXP1628', '1.0.10.0', 'compliant', True),        # 10 > 7, not '1' < '7'
    ('GRP2614', '1.0.5.66', 'outdated', False),        # the first matching pattern wins (GRP26* before grp*)
    ('GRP2601', None, 'unknown', None),                # the passcode dialect tells no firmware
    ('GXP1628', '1.0.7.81-beta', 'unknown', None),     # not a dotted number: never guessed
    ('WP826', '1.0.3.35', 'no_rule', None),
    (None, '1.0.3.35', 'unknown', None),
])
def test_verdicts(model, firmware, status, compliant):
    verdict = POLICY.verdict(model, firmware)
    assert verdict['firmware_status'] == status and verdict['firmware_compliant'] is compliant
    if status == 'outdated':
        assert 'is below the minimum' in verdict['firmware_reason']
    if status == 'unknown' and firmware and model:
        assert repr(firmware) in verdict['firmware_reason'], 'the raw string is kept'


def test_no_policy_checks_nothing():
    assert FirmwarePolicy().verdict('GXP1628', '1.0.0.1') == {'firmware_status': 'not_checked', 'firmware_compliant': None,
                                                              'firmware_minimum': None, 'firmware_reason': None}


@pytest.mark.parametrize('minimums, words', [({'GXP16*': 'latest'}, 'must be a dotted version'), ({'': '1.0'}, 'non-empty')])
def test_a_bad_policy_is_refused(minimums, words):
    with pytest.raises(ValueError) as caught:
        FirmwarePolicy(minimums)
    assert words in str(caught.value)


def record(name, model=None, firmware=None, default_password=None, ok=True, inventory_model=None):
    target = FleetTarget(name, CTIConnection('10.1.4.9', passcode='pw', name=name), {'model': inventory_model} if inventory_model else {})
    data = {'status': 'registered', 'accounts': [], 'phone_status': 'available',
            'device': {'model': model, 'firmware': firmware, 'mac': None, 'default_password': default_password, 'auth': 'session',
                       'unknown_reason': {} if firmware else {'firmware': 'the passcode dialect does not report it'}}}
    result = {'name': name, 'host': '10.1.4.9', 'port': 80, 'ok': ok, 'data': data if ok else {}, 'error_class': None if ok else 'unreachable',
              'error': None if ok else 'could not be reached.', 'hint': None, 'reachable': ok, 'seconds': 0.1}
    return audit.registration_record(result, target, POLICY)


def test_records_and_summary_count_outdated_unknown_and_factory_passwords():
    phones = [record('a', 'GXP1628', '1.0.7.70', default_password=True), record('b', 'GXP1628', '1.0.7.81'),
              record('c', None, None, inventory_model='GRP2614'), record('d', ok=False, inventory_model='GXP1610')]
    assert [phone['model_source'] for phone in phones] == ['phone', 'phone', 'inventory', 'inventory']
    assert [phone['firmware_status'] for phone in phones] == ['outdated', 'compliant', 'unknown', 'unknown']
    assert 'the passcode dialect does not report it' in phones[2]['firmware_reason']
    assert phones[3]['firmware_reason'] == 'the phone could not be read'
    report = audit.build_report(phones, {'firmware_minimum': {'GXP16*': '1.0.7.81'}})
    summary = report['summary']
    assert (summary['firmware_outdated'], summary['firmware_unknown'], summary['default_password']) == (1, 2, 1)
    assert report['schema'] == {'name': 'phonefleet.grandstream.registration_audit', 'version': 2}
    message = audit.report_message(report)
    assert 'Firmware: 1 phone below the minimum firmware (a); firmware unknown on 2; 1 still with the factory password (a).' in message


def test_reports_show_the_firmware():
    phones = [record('a', 'GXP1628', '1.0.7.70'), record('b', 'GXP1628', '1.0.10.1'), record('c', 'GXP1628', '1.0.7.81')]
    report = audit.build_report(phones, {'firmware_minimum': {'GXP16*': '1.0.7.81'}, 'fail_on_firmware': True})
    html = audit_reports.registration_html(report)
    assert 'Models and firmware' in html and 'Phones below the minimum firmware (1)' in html
    # sorted by version as numbers: 1.0.7.70, 1.0.7.81, 1.0.10.1
    assert html.index('1.0.7.70') < html.index('1.0.7.81</td>') < html.index('1.0.10.1')
    prom = audit_reports.prometheus_text(audit_reports.registration_prometheus(report))
    assert 'grandstream_phone_info{name="a",site="",model="GXP1628",firmware="1.0.7.70",auth="session"} 1\n' in prom
    assert 'grandstream_phone_firmware_compliant{name="a",site="",model="GXP1628"} 0\n' in prom
    assert 'grandstream_audit_firmware_phones{status="outdated"} 1\n' in prom
    junit = audit_reports.registration_junit(report)
    assert junit.count('type="firmware_outdated"') == 1, 'fail_on_firmware: an outdated phone fails its case'
    report['audit']['fail_on_firmware'] = False
    assert 'firmware_outdated"' not in audit_reports.registration_junit(report).split('<properties>')[1].split('</properties>')[1]
