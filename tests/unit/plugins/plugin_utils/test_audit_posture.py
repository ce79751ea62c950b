# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security posture of the registration audit: the interpretation table per model line (polarity traps, unknown
lines, firmware-dependent keys), each of the seven checks against the fixture phone of each recorded model, the CVE
table, one login per phone, and a phone that could not be read."""

import json
import os

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import FAMILIES
from ansible_collections.phonefleet.grandstream.plugins.modules import fleet_registration_info, registration_report_merge
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit_posture, audit_posture_table
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import (
    CHECKS, FAIL, PASS, UNKNOWN, CVETable, PosturePolicy, judge,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture_table import interpret
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone

SECURE = {'P1650': None, 'P276': None, 'P32050': '1', 'P32052': '10.1.4.1', 'P1409': '0', 'P6767': '2', 'P212': '2',
          'P240': '1'}
# What "secure" is per line: the polarity traps
SECURE_WEB = {'GRP2614': '0', 'WP826': '1', 'GXP1628': '0', 'GXP2170': '0'}
SECURE_SSH = {'GRP2614': '1', 'WP826': '0', 'GXP1628': '1', 'GXP2170': '1'}
MODELS = [('GRP2614', None), ('WP826', None), ('GXP1628', '1.0.7.79'), ('GXP2170', '1.0.9.135'), ('GXP2170', '1.0.11.3')]


def audit_phone(phone, name='gs0001', posture=True, cves=(), inventory_model=None):
    """The audit's row of one fixture phone, through the fan-out as the action runs it; ``inventory_model``: the
    inventory's ``model`` variable."""
    check = registration_check(posture=PosturePolicy(cves) if posture else None)
    variables = dict({'site': 'hq'}, **({'model': inventory_model} if inventory_model else {}))
    target = FleetTarget(name, connection=phone.connection(name=name), variables=variables)
    report = check.run([target], {}, concurrency=1, transport_factory=lambda target: phone)
    return report['phones'][0], report


def secure_phone(model, version=None, **settings):
    values = dict(SECURE, P1650=SECURE_WEB[model], P276=SECURE_SSH[model])
    values.update(settings)
    return FixturePhone.of_model(model, version=version, settings=values)


# -- the interpretation table ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('model, value, meaning', [
    ('GRP2614', '0', 'https'), ('GRP2614', '1', 'http'), ('GRP2614', '2', 'http_and_https'),
    ('GXP1628', '0', 'https'), ('GXP1780', '1', 'http'), ('GXP2170', '0', 'https'),
    ('WP826', '0', 'http'), ('WP820', '1', 'https'), ('WP826', '2', 'http_and_https'),
])
def test_web_access_polarity_per_line(model, value, meaning):
    reading = interpret('web_access', model, '1.0.11.3', {'P1650': value})
    assert (reading.key, reading.meaning, reading.unknown) == ('P1650', meaning, None)


@pytest.mark.parametrize('model, value, meaning', [
    ('GRP2614', '0', 'on'), ('GRP2614', '1', 'off'), ('GXP1628', '0', 'on'), ('GXP2170', '1', 'off'),
    ('WP826', '0', 'off'), ('WP826', '1', 'on'),
])
def test_ssh_polarity_per_line(model, value, meaning):
    reading = interpret('ssh', model, None, {'P276': value})
    assert (reading.key, reading.meaning, reading.unknown) == ('P276', meaning, None)


@pytest.mark.parametrize('setting, model, firmware, values, unknown', [
    ('web_access', 'GSC3510', '1.0.1.1', {'P1650': '0'}, 'no source gives what it means on the GSC35xx line'),
    ('ssh', 'GSC3510', None, {'P276': '0'}, 'no source gives what it means on the GSC35xx line'),
    ('web_access', 'HT802', None, {'P1650': '0'}, 'the collection has no table for the model HT802'),
    ('tr069', None, None, {'P1409': '0'}, 'the model is unknown'),
    ('web_access', 'GRP2614', None, {'P1650': '7'}, "P1650 = 7, a value the collection cannot interpret for GRP26xx"),
    ('web_access', 'GRP2614', None, {'P1650': None}, 'the phone did not report P1650'),
    ('web_access', 'GRP2614', None, {}, 'the phone did not report P1650'),
    ('web_access', 'GRP2614', None, {'P1650': ''}, 'P1650 is empty (the phone may not know the setting)'),
    ('firmware_protocol', 'GXP2170', None, {'P6767': '2', 'P212': '2'}, 'depends on the firmware'),
    ('firmware_protocol', 'GXP2170', 'beta', {'P6767': '2', 'P212': '2'}, 'depends on the firmware'),
])
def test_what_the_table_cannot_tell_is_unknown_with_why(setting, model, firmware, values, unknown):
    reading = interpret(setting, model, firmware, values)
    assert reading.meaning is None and unknown in reading.unknown


@pytest.mark.parametrize('firmware, key', [('1.0.9.135', 'P212'), ('1.0.10.99', 'P212'), ('1.0.11.3', 'P6767'),
                                           ('1.0.11', 'P6767'), ('2.0', 'P6767')])
def test_older_gxp21xx_picks_the_firmware_protocol_with_p212(firmware, key):
    reading = interpret('firmware_protocol', 'GXP2170', firmware, {'P6767': '1', 'P212': '2'})
    assert reading.key == key and reading.meaning == {'P212': 'https', 'P6767': 'http'}[key]


def test_every_row_names_a_known_line_and_a_source():
    families = set(name for name, dummy, dummy2 in FAMILIES)
    rows = list(audit_posture_table.table_rows())
    assert len(rows) >= 11
    for setting, row_families, key, meanings, condition, source in rows:
        assert set(row_families) <= families, setting
        assert source.split(':')[0] in ('doc', 'seen', 'peer'), (setting, source)
        assert key.startswith('P') and key[1:].isdigit()
        assert key in audit_posture_table.KEYS
    # the two polarity traps are rows of their own, with opposite meanings on WP8xx
    web = dict((row[1], row[3]) for row in rows if row[0] == 'web_access')
    assert web[audit_posture_table.GRP_GXP]['0'] == 'https' and web[('WP8xx',)]['0'] == 'http'
    ssh = dict((row[1], row[3]) for row in rows if row[0] == 'ssh')
    assert ssh[audit_posture_table.GRP_GXP]['0'] == 'on' and ssh[('WP8xx',)]['0'] == 'off'
    assert 'GSC35xx' not in audit_posture_table.GRP_GXP, 'no source gives the GSC35xx polarities'


def test_the_keys_read_are_short_p_numbers_only():
    # CVE-2026-2329: a long key crashes a GXP16xx below 1.0.7.81; the posture only ever asks for these.
    assert all(key[0] == 'P' and key[1:].isdigit() and len(key) <= 7 for key in audit_posture_table.KEYS)
    assert {'P1650', 'P276', 'P32050', 'P32052', 'P1409', 'P4503', 'P6767', 'P212', 'P240', 'P68', 'P89'} == \
        set(audit_posture_table.KEYS)


def test_the_module_options_list_the_checks():
    assert fleet_registration_info.POSTURE_CHECKS == CHECKS == registration_report_merge.POSTURE_CHECKS
    assert set(audit_posture.FAILED_MEANS) == set(audit_posture.WHAT_TO_CHANGE) == set(audit_posture.READS) == set(CHECKS)


# -- each check, with the fixture phone of every recorded model -----------------------------------------------------

@pytest.mark.parametrize('model, version', MODELS)
def test_a_secured_phone_passes_every_settings_check_and_a_default_one_fails_them(model, version):
    row, dummy = audit_phone(secure_phone(model, version))
    assert row['status'] == 'registered'
    results = dict((check, row['posture'][check]['result']) for check in CHECKS)
    assert results == dict(factory_password=PASS, firmware_cve=FAIL if model == 'GXP1628' else PASS, tr069_enabled=PASS,
                           provisioning_plain=PASS, web_plain_http=PASS, ssh_enabled=PASS, cti_open=PASS), row['posture']
    assert all(row['posture'][check]['reason'] for check in CHECKS), 'a pass says why too'

    # the recordings' defaults: web over HTTP, SSH on (off on WP8xx: the other polarity), CTI open, P240 off
    row, dummy = audit_phone(FixturePhone.of_model(model, version=version))
    posture = row['posture']
    assert posture['web_plain_http']['result'] == FAIL and 'plain HTTP' in posture['web_plain_http']['reason']
    assert posture['ssh_enabled']['result'] == (PASS if model == 'WP826' else FAIL)
    assert posture['cti_open']['result'] == FAIL and 'any address' in posture['cti_open']['reason']
    assert posture['provisioning_plain']['result'] == FAIL and 'P240 = 0' in posture['provisioning_plain']['reason']


@pytest.mark.parametrize('model, web, ssh, web_result, ssh_result', [
    ('GRP2614', '1', '0', FAIL, FAIL), ('GRP2614', '2', '1', FAIL, PASS), ('GRP2614', '0', '1', PASS, PASS),
    ('WP826', '0', '1', FAIL, FAIL), ('WP826', '1', '0', PASS, PASS), ('WP826', '2', '0', FAIL, PASS),
    ('GXP1628', '1', '0', FAIL, FAIL), ('GXP2170', '0', '1', PASS, PASS),
])
def test_web_and_ssh_follow_the_polarity_of_the_line(model, web, ssh, web_result, ssh_result):
    version = '1.0.7.81' if model == 'GXP1628' else None
    row, dummy = audit_phone(FixturePhone.of_model(model, version=version, settings={'P1650': web, 'P276': ssh}))
    assert row['posture']['web_plain_http']['result'] == web_result, row['posture']['web_plain_http']
    assert row['posture']['ssh_enabled']['result'] == ssh_result, row['posture']['ssh_enabled']
    assert 'P276 = %s on %s' % (ssh, model) in row['posture']['ssh_enabled']['reason']


def test_factory_password_from_the_login_answer_of_every_dialect():
    for model, version in MODELS:
        phone = FixturePhone.of_model(model, version=version)
        phone.default_auth = True
        row, report = audit_phone(phone)
        assert row['posture']['factory_password'] == {
            'result': FAIL, 'reason': 'the phone still has its factory password (its login answer says defaultAuth: true)'}
        assert row['default_password'] is True, 'a passcode phone tells it too, through the web login'
        assert report['summary']['default_password'] == 1
    phone = FixturePhone.of_model('GRP2614')
    template = json.loads(phone._recorded('dologin')[2])  # pylint: disable=protected-access
    body = dict(template['body'], sid='ab' * 32)
    body.pop('defaultAuth')
    phone.script('dologin', {'response': 'success', 'body': body})
    phone.sid = body['sid']  # the session of the scripted login
    row, dummy = audit_phone(phone)
    assert row['posture']['factory_password'] == {'result': UNKNOWN, 'reason': 'the login answer has no defaultAuth'}
    assert phone.functions().count('dologin') == 1 and row['posture']['ssh_enabled']['result'] == FAIL


@pytest.mark.parametrize('model, version, result, cves', [
    ('GXP1628', '1.0.7.79', FAIL, ['CVE-2026-2329']), ('GXP1610', '1.0.7.70', FAIL, ['CVE-2026-2329']),
    ('GXP1630', '1.0.7.81', PASS, None), ('GXP1628', '1.0.10.2', PASS, None), ('GXP1625', '1.0.7.81-beta', UNKNOWN, None),
    ('GRP2614', '1.0.5.67', PASS, None), ('GXP1782', '1.0.1.1', PASS, None),
])
def test_firmware_cve_names_the_cve(model, version, result, cves):
    row, report = audit_phone(FixturePhone.of_model(model, version=version))
    verdict = row['posture']['firmware_cve']
    assert verdict['result'] == result and verdict.get('cves') == cves, verdict
    if result == FAIL:
        assert 'open to CVE-2026-2329 (fixed in 1.0.7.81): unauthenticated remote code execution' in verdict['reason']
        assert 'Open to CVE-2026-2329: gs0001.' in registration_check().message(report)
    if result == UNKNOWN:
        assert "'1.0.7.81-beta'" not in verdict['reason'] and '1.0.7.81-beta is not a dotted version' in verdict['reason']


def test_the_cve_table_is_extended_and_corrected_by_the_option():
    extra = [{'id': 'CVE-2026-9999', 'models': ['GRP26*'], 'fixed': '1.0.7.10', 'summary': 'a made-up flaw'},
             {'id': 'CVE-2026-2329', 'models': ['GXP16*'], 'fixed': '1.0.7.90'}]
    table = CVETable(extra)
    assert table.ids == ['CVE-2026-2329', 'CVE-2026-9999']
    assert table.verdict('GRP2614', '1.0.5.67')['cves'] == ['CVE-2026-9999']
    assert table.verdict('GXP1780', '1.0.7.81')['result'] == PASS, 'GXP17xx is not GXP16*'
    assert table.verdict('gxp1615', '1.0.7.85')['cves'] == ['CVE-2026-2329'], 'patterns are case-insensitive; the fix moved'
    assert table.verdict(None, '1.0.7.85')['result'] == UNKNOWN
    assert 'the firmware is unknown' in table.verdict('GXP1628', None)['reason']
    row, report = audit_phone(FixturePhone.of_model('GRP2614'), cves=extra)
    assert row['posture']['firmware_cve']['cves'] == ['CVE-2026-9999']
    assert report['audit']['posture_cves'] == ['CVE-2026-2329', 'CVE-2026-9999']


@pytest.mark.parametrize('entry, words', [
    ('CVE-1', 'cves entry 1 must be an object'),
    ({'id': 'CVE-1', 'models': ['GXP*'], 'fixed': '1.0', 'fixed_in': '2'}, "cves entry 1: unknown field 'fixed_in'"),
    ({'id': '', 'models': ['GXP*'], 'fixed': '1.0'}, 'cves entry 1: "id" must be a CVE name'),
    ({'id': 'CVE 1; rm', 'models': ['GXP*'], 'fixed': '1.0'}, 'cves entry 1: "id" must be a CVE name'),
    ({'id': 'CVE-1', 'models': 'GXP*', 'fixed': '1.0'}, 'cves entry 1 (CVE-1): "models" must be a list'),
    ({'id': 'CVE-1', 'models': [], 'fixed': '1.0'}, 'cves entry 1 (CVE-1): "models" must be a list'),
    ({'id': 'CVE-1', 'models': ['GXP*'], 'fixed': 'soon'}, 'cves entry 1 (CVE-1): "fixed" must be'),
    ({'id': 'CVE-1', 'models': ['GXP*']}, 'cves entry 1 (CVE-1): "fixed" must be'),
    ({'id': 'CVE-1', 'models': ['GXP*'], 'fixed': '1.0', 'summary': 'x' * 501}, '"summary" must be a sentence'),
])
def test_a_malformed_cve_entry_is_refused_by_name(entry, words):
    with pytest.raises(ValueError) as caught:
        PosturePolicy([entry])
    assert words in str(caught.value)


@pytest.mark.parametrize('acs, shown', [
    ('https://acs.gdms.cloud', 'ACS acs.gdms.cloud'), ('https://admin:S3cr3t@acs.example.net:7547/acs', 'ACS acs.example.net:7547'),
    ('', 'no ACS URL set'),
])
def test_tr069_on_names_the_acs_host_never_its_credentials(acs, shown):
    row, dummy = audit_phone(FixturePhone.of_model('GRP2614', settings={'P1409': '1', 'P4503': acs}))
    verdict = row['posture']['tr069_enabled']
    assert verdict['result'] == FAIL and verdict['reason'].endswith(shown) and 'S3cr3t' not in verdict['reason']
    row, dummy = audit_phone(FixturePhone.of_model('GRP2614', settings={'P1409': 'yes'}))
    assert row['posture']['tr069_enabled']['result'] == UNKNOWN


@pytest.mark.parametrize('model, version, settings, result, words', [
    ('GRP2614', None, {'P6767': '0'}, FAIL, 'firmware over TFTP (P6767 = 0)'),
    ('GRP2614', None, {'P212': '1'}, FAIL, 'configuration over plain HTTP (P212 = 1)'),
    ('GRP2614', None, {'P240': '0'}, FAIL, 'configuration files not authenticated (P240 = 0)'),
    ('GRP2614', None, {'P240': 'maybe'}, UNKNOWN, 'configuration file authentication: P240 = maybe'),
    ('GRP2614', None, {'P240': 'maybe', 'P6767': '1'}, FAIL, 'not known: configuration file authentication'),
    # older GXP21xx: no P6767, P212 picks both protocols
    ('GXP2170', '1.0.9.135', {'P212': '1'}, FAIL, 'firmware over plain HTTP (P212 = 1); configuration over plain HTTP'),
    ('GXP2170', '1.0.9.135', {}, PASS, 'P212 = 2, P212 = 2, P240 = 1'),
    ('GXP2170', '1.0.11.3', {'P6767': '1'}, FAIL, 'firmware over plain HTTP (P6767 = 1)'),
])
def test_provisioning_in_plain_text(model, version, settings, result, words):
    row, dummy = audit_phone(secure_phone(model, version, **settings))
    verdict = row['posture']['provisioning_plain']
    assert verdict['result'] == result and words in verdict['reason'], verdict


@pytest.mark.parametrize('allowed, result', [('', FAIL), ('any', FAIL), ('10.1.4.1, any', FAIL), ('0.0.0.0/0 10.1.4.1', FAIL),
                                             ('10.1.4.1', PASS), ('10.1.4.1,10.9.0.0/16', PASS)])
def test_cti_open_to_any_address(allowed, result):
    row, dummy = audit_phone(FixturePhone.of_model('WP826', settings={'P32052': allowed}))
    assert row['status'] == 'registered' and row['posture']['cti_open']['result'] == result, row['posture']['cti_open']


def test_judge_without_the_phone_reads_what_an_audit_cannot_reach():
    cves = CVETable()
    # CTI off: the audit cannot reach such a phone over CTI (it is forbidden), but the rule is the rule
    posture = judge('GRP2614', '1.0.5.67', False, {'P32050': '0'}, cves)
    assert posture['cti_open'] == {'result': PASS, 'reason': 'Action URI (CTI) is off (P32050 = 0)'}
    assert posture['web_plain_http']['result'] == UNKNOWN and 'did not report P1650' in posture['web_plain_http']['reason']
    assert list(posture) == list(CHECKS)
    posture = judge('GRP2614', '1.0.5.67', None, None, cves, {'default_password': 'the web login failed: refused'},
                    settings_error='HTTP 404.')
    assert posture['factory_password'] == {'result': UNKNOWN, 'reason': 'the web login failed: refused'}
    assert posture['ssh_enabled'] == {'result': UNKNOWN, 'reason': 'the settings could not be read: HTTP 404'}


# -- one visit, one login; what posture: false costs ------------------------------------------------------------------

@pytest.mark.parametrize('model, version', MODELS)
def test_one_login_and_one_settings_read_per_phone(model, version):
    phone = FixturePhone.of_model(model, version=version)
    row, dummy = audit_phone(phone, inventory_model=model)
    functions = phone.functions()
    assert functions.count('dologin') == 1, functions
    assert len([name for name in functions if name in ('config_get', 'api.values.get')]) == 1, functions
    assert 'model.define.js' not in functions, 'the model comes with the settings (P89)'
    assert functions[-1] == 'dologout'
    assert not [name for name in functions if name in ('config_update', 'api.values.post')], 'nothing is written'
    assert [event for event in phone.events if event[0] == 'login'] == [('login', {'result': 'ok'})]
    assert (row['model'], row['model_source'], row['firmware']) == (model, 'phone', version or phone.version)


@pytest.mark.parametrize('model, version, asked', [
    ('GRP2614', None, ['config_get']), ('WP826', None, ['config_get']), ('GXP2170', '1.0.11.3', ['config_get']),
    # the form dialect answers config_get with a 404: then api.values.get
    ('GXP1628', '1.0.7.79', ['config_get', 'api.values.get']), ('GXP2170', '1.0.9.135', ['config_get', 'api.values.get']),
])
def test_without_a_model_in_the_inventory_the_json_form_is_tried_first(model, version, asked):
    phone = FixturePhone.of_model(model, version=version)
    row, dummy = audit_phone(phone)
    assert [name for name in phone.functions() if name in ('config_get', 'api.values.get', 'model.define.js')] == asked
    assert row['model'] == model and row['posture']['web_plain_http']['result'] == FAIL


def test_posture_off_costs_what_the_audit_cost_before():
    phone = FixturePhone.of_model('GRP2614')
    row, report = audit_phone(phone, posture=False)
    assert phone.functions() == ['api-get_accounts', 'api-get_phone_status', 'model.define.js']
    assert 'posture' not in row and 'posture' not in report['summary'] and 'posture' not in report['audit']
    assert row['firmware'] is None, 'the passcode dialect alone does not tell the firmware'
    assert 'Posture' not in registration_check().message(report)
    phone = FixturePhone.of_model('GRP2614')
    row, dummy = audit_phone(phone)
    assert row['firmware'] == '1.0.5.67' and row['mac'] == '00:0B:82:12:34:56' and row['default_password'] is False


def test_an_unknown_model_is_asked_no_settings():
    phone = FixturePhone.of_model('HT802')
    row, dummy = audit_phone(phone, inventory_model='HT802')
    assert 'model.define.js' in phone.functions(), 'the phone says what it is before anything else is asked'
    assert not [name for name in phone.functions() if name in ('config_get', 'api.values.get', 'metaconfig_get')]
    for check in CHECKS[2:]:
        assert row['posture'][check]['result'] == UNKNOWN
        assert 'the collection has no table for the model HT802' in row['posture'][check]['reason']
    assert row['posture']['factory_password']['result'] == PASS, 'the login answer still tells'


def test_the_model_and_firmware_from_p89_and_p68_when_the_phone_does_not_tell_them_otherwise():
    phone = FixturePhone.of_model('GXP2170', version='1.0.11.3')
    phone.model_js = False
    template = json.loads(phone._recorded('dologin')[2])  # pylint: disable=protected-access
    body = dict(template['body'], sid='cd' * 32)
    body.pop('ver')
    phone.script('dologin', {'response': 'success', 'body': body})
    phone.sid = body['sid']  # the session of the scripted login
    row, dummy = audit_phone(phone)
    assert (row['model'], row['model_source'], row['firmware']) == ('GXP2170', 'phone', '1.0.11.3')
    assert row['posture']['ssh_enabled']['result'] == FAIL


# -- what could not be read is unknown, with why --------------------------------------------------------------------

def test_a_phone_that_could_not_be_read_has_every_check_unknown_with_why():
    phone = FixturePhone.of_model('GRP2614')
    phone.set_fault('refused')
    row, report = audit_phone(phone)
    assert row['status'] == 'unreachable'
    assert set(item['result'] for item in row['posture'].values()) == {UNKNOWN}
    assert row['posture']['ssh_enabled']['reason'].startswith('the phone could not be read (unreachable: connection refused')
    assert report['summary']['posture']['ssh_enabled'] == {'pass': 0, 'fail': 0, 'unknown': 1}


def test_a_settings_read_that_fails_leaves_the_phone_registered_and_the_settings_unknown():
    phone = FixturePhone.of_model('GRP2614')
    phone.script('config_get', (500, 'text/html', '<html>oops</html>'))
    row, dummy = audit_phone(phone)
    assert row['status'] == 'registered' and row['error'] is None
    assert row['posture']['factory_password']['result'] == PASS and row['posture']['firmware_cve']['result'] == PASS
    reason = row['posture']['web_plain_http']['reason']
    assert row['posture']['web_plain_http']['result'] == UNKNOWN and reason.startswith('the settings could not be read: ')
    assert 'HTTP 500' in reason


def test_a_refused_web_login_is_never_tried_again_and_leaves_the_phone_registered():
    phone = FixturePhone.of_model('GXP2170', version='1.0.9.135')
    phone.script('dologin', {'response': 'error', 'body': 'wrong4'})
    row, dummy = audit_phone(phone)
    assert row['status'] == 'registered', 'its CTI answered: the phone is registered'
    assert phone.functions().count('dologin') == 1 and phone.functions().count('access') == 1
    assert not [name for name in phone.functions() if name in ('config_get', 'api.values.get')]
    assert row['posture']['factory_password']['result'] == UNKNOWN
    assert row['posture']['factory_password']['reason'].startswith('the web login failed: ')
    assert row['posture']['ssh_enabled']['reason'].startswith('the settings could not be read: ')


def test_hostile_setting_values_are_bounded_cleaned_and_never_show_the_passcode():
    hostile = {'P32052': '10.1.4.1 \x1b[2J%s %s' % (PASSCODE, 'x' * 5000), 'P1650': '\x07' * 100,
               'P4503': 'https://%s@acs/' % PASSCODE}
    phone = FixturePhone.of_model('WP826', settings=hostile)
    row, dummy = audit_phone(phone)
    text = json.dumps(row['posture'])
    assert PASSCODE not in text and '\x1b' not in text and '\x07' not in text
    assert max(len(item['reason']) for item in row['posture'].values()) < 400
    assert row['posture']['web_plain_http']['result'] == UNKNOWN


# -- counts, problems, the sentence ---------------------------------------------------------------------------------

def test_counts_problems_and_the_sentence():
    check = registration_check(posture=PosturePolicy())
    phones = {'a': secure_phone('GRP2614'), 'b': FixturePhone.of_model('GXP1628', version='1.0.7.79'),
              'c': FixturePhone.of_model('WP826')}
    phones['c'].default_auth = True
    targets = [FleetTarget(name, connection=phone.connection(name=name)) for name, phone in sorted(phones.items())]
    report = check.run(targets, {}, concurrency=3, transport_factory=lambda target: phones[target.name])
    counts = report['summary']['posture']
    assert list(counts) == list(CHECKS) and list(report['summary'])[-1] == 'compliance_percent'
    assert counts['factory_password'] == {'pass': 2, 'fail': 1, 'unknown': 0}
    assert counts['firmware_cve'] == {'pass': 2, 'fail': 1, 'unknown': 0}
    assert counts['ssh_enabled'] == {'pass': 2, 'fail': 1, 'unknown': 0}, 'WP826 P276 0 is off'
    assert check.problems(report)['posture_failed'] == [], 'no fail_on_posture: nothing fails the run'
    report['audit']['fail_on_posture'] = ['ssh_enabled', 'factory_password']
    assert check.problems(report)['posture_failed'] == ['b', 'c']
    message = check.message(report)
    assert 'Posture: 2 phones of 3 fail a check: factory_password 1, firmware_cve 1,' in message
    assert 'Open to CVE-2026-2329: b.' in message
    assert 'Failing the run (fail_on_posture factory_password, ssh_enabled): b, c.' in message
    assert '1 still with the factory password (c)' in message, 'the console names the phones with the factory password'


def test_docs_show_every_row_of_the_table_with_its_source():
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'docs', 'posture.md')
    with open(docs, encoding='utf-8') as handle:
        rows = [line for line in handle.read().splitlines() if line.startswith('| ')]
    for setting, families, key, meanings, condition, source in audit_posture_table.table_rows():
        assert [row for row in rows if ' | %s | ' % key in row and row.endswith('| %s |' % source)], (setting, key, source)
    for check in CHECKS:
        assert [row for row in rows if row.startswith('| `%s` |' % check)], check
