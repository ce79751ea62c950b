# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit (classifier, records, summary) against fixture phones: recorded answers, the accounts a test
gives them, scripted answers for the failures (no network)."""

import json
import time

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, fan_out
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import (
    PASSCODE, FixturePhone, recorded_answer, refused, timed_out,
)
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fleet_phones import (
    ACCOUNT_DOWN, ACCOUNT_EMPTY, ACCOUNT_OK, healthy, make_targets,
)


def run_audit(phones, required=None, **kwargs):
    """phones: {name: fixture phone}; returns (records by name, fan-out results by name)."""
    targets = [FleetTarget(name, CTIConnection('10.1.4.%d' % index, passcode=PASSCODE, port=8080, name=name),
                           {'site': 'hq', 'model': 'GRP2614'})
               for index, name in enumerate(sorted(phones), 1)]
    results = fan_out(targets, audit.audit_registration(required), transport_factory=lambda target: phones[target.name], **kwargs)
    records = [audit.registration_record(result, target) for result, target in zip(results, targets)]
    return dict((record['name'], record) for record in records), dict((result['name'], result) for result in results)


def failing(function, *answers):
    """A healthy phone whose next answers to ``function`` are ``answers``."""
    phone = healthy()
    phone.script(function, *answers)
    return phone


def test_registered_phone():
    records, dummy = run_audit({'gs1': healthy()})
    record = records['gs1']
    assert record['status'] == 'registered'
    assert record['compliant'] is True
    assert record['reachable'] is True
    assert record['phone_status'] == 'available'
    assert record['error'] is None and record['hint'] is None
    assert record['site'] == 'hq' and record['model'] == 'GRP2614'
    assert record['host'] == '10.1.4.1' and record['port'] == 8080
    assert [account['id'] for account in record['accounts']] == [1, 3]
    assert record['accounts'][0] == {'id': 1, 'name': 'office', 'sip_id': '1001', 'sip_server': 'pbx.example.net',
                                     'configured': True, 'registered': True}


@pytest.mark.parametrize('accounts, required, status, reason', [
    ([ACCOUNT_OK, ACCOUNT_DOWN], None, 'unregistered', 'account 2 (1002@pbx.example.net) is not registered.'),
    ([dict(ACCOUNT_OK, reg=0), ACCOUNT_DOWN], None, 'unregistered',
     'account 1 (1001@pbx.example.net) and account 2 (1002@pbx.example.net) are not registered.'),
    ([ACCOUNT_EMPTY], None, 'unregistered', 'no SIP account is configured on the phone.'),
    ([], None, 'unregistered', 'no SIP account is configured on the phone.'),
    ([ACCOUNT_OK, ACCOUNT_DOWN], [1], 'registered', None),
    ([ACCOUNT_OK, ACCOUNT_DOWN], [1, 2], 'unregistered', 'account 2 (1002@pbx.example.net) is not registered.'),
    ([ACCOUNT_OK, ACCOUNT_EMPTY], [3], 'unregistered', 'account 3 is not configured.'),
    ([ACCOUNT_OK], [1, 4], 'unregistered', 'the phone has no account 4.'),
    ([dict(ACCOUNT_OK, reg='1', id='1')], None, 'registered', None),
])
def test_account_classification(accounts, required, status, reason):
    phone = healthy(accounts)
    if any(isinstance(account['reg'], str) for account in accounts):
        # Firmware that words the numbers as text: its answer as sent (the recording's shape has numbers).
        phone.script('api-get_accounts', {'response': 'success', 'body': accounts})
    records, dummy = run_audit({'gs1': phone}, required=required)
    assert records['gs1']['status'] == status
    assert records['gs1']['error'] == reason
    assert (records['gs1']['hint'] is None) == (status == 'registered')


def test_wrong_passcode_is_tried_once_and_phone_status_not_asked():
    phone = healthy(passcode='An0ther-one')   # its recorded 401 page to PASSCODE
    records, results = run_audit({'gs1': phone})
    assert phone.functions() == ['api-get_accounts']
    assert records['gs1']['status'] == 'auth_failed'
    assert records['gs1']['http_status'] == 401
    assert 'grandstream_passcode' in records['gs1']['hint']
    assert results['gs1']['message'].startswith('gs1 (10.1.4.1:8080): the phone rejected the passcode')


@pytest.mark.parametrize('answer, status', [
    ({'response': 'error', 'body': 'unauthorized'}, 'auth_failed'),
    ({'response': 'error', 'body': 'locked', 'lockTime': 5}, 'locked'),
    (recorded_answer('forbidden'), 'forbidden'),
    ({'response': 'error', 'body': 'forbidden'}, 'forbidden'),
    (recorded_answer('not_found'), 'error'),
    ((500, 'text/html', '<html>oops</html>'), 'error'),
    ((200, 'text/html', '<!DOCTYPE html><html>login</html>'), 'error'),
    (b'\x00not json{', 'error'),
    ({'foo': 1}, 'error'),
    ({'response': 'error', 'body': 'failed'}, 'error'),  # a refused read (rejected) is an error
    ([refused(), refused()], 'unreachable'),
    ([timed_out()], 'unreachable'),
])
def test_error_classes(answer, status):
    records, results = run_audit({'gs1': failing('api-get_accounts', *(answer if isinstance(answer, list) else [answer]))})
    assert records['gs1']['status'] == status
    assert records['gs1']['compliant'] is False
    assert records['gs1']['reachable'] is (status != 'unreachable')
    assert records['gs1']['error']
    assert PASSCODE not in json.dumps([records, results])


def test_locked_phone_keeps_lock_minutes():
    records, dummy = run_audit({'gs1': failing('api-get_accounts', {'response': 'error', 'body': 'locked', 'lockTime': 4})})
    assert records['gs1']['lock_minutes'] == 4
    assert 'locked for 4 more minutes' in records['gs1']['error']


def test_unreachable_read_is_retried_once():
    phone = healthy([ACCOUNT_OK], status='busy')
    phone.script('api-get_accounts', refused())
    records, dummy = run_audit({'gs1': phone})
    assert phone.functions() == ['api-get_accounts', 'api-get_accounts', 'api-get_phone_status', 'model.define.js']
    assert records['gs1']['status'] == 'registered'
    assert records['gs1']['phone_status'] == 'busy'


def test_phone_status_not_supported_keeps_the_accounts_verdict():
    phone = healthy([ACCOUNT_OK])
    phone.script('api-get_phone_status', recorded_answer('not_found'))
    records, dummy = run_audit({'gs1': phone})
    assert records['gs1']['status'] == 'registered'
    assert records['gs1']['phone_status'] is None
    assert 'HTTP 404' in records['gs1']['phone_status_error']


def test_phone_status_auth_failure_fails_the_phone():
    phone = healthy([ACCOUNT_OK])
    phone.script('api-get_phone_status', {'response': 'error', 'body': 'unauthorized'})
    records, dummy = run_audit({'gs1': phone})
    assert records['gs1']['status'] == 'auth_failed'


def test_unknown_phone_status_passes_through():
    records, dummy = run_audit({'gs1': healthy(status='weird')})
    assert records['gs1']['phone_status'] == 'weird'
    assert records['gs1']['status'] == 'registered'


def test_record_of_a_deadline_phone_is_an_error_with_its_class():
    target = make_targets(1)[0]
    result = fan_out([target], lambda client, target: time.sleep(0.3) or {}, deadline=0.05, transport_factory=lambda target: FixturePhone())[0]
    record = audit.registration_record(result, target)
    assert record['status'] == 'error'
    assert record['error_class'] == 'interrupted'


def test_summary_counts_every_status_and_rounds_down():
    records = [{'status': status} for status in ('registered', 'registered', 'unregistered', 'unreachable', 'auth_failed',
                                                 'locked', 'forbidden', 'error')]
    summary = audit.registration_summary(records)
    assert summary == {'total': 8, 'registered': 2, 'unregistered': 1, 'unreachable': 1, 'auth_failed': 1, 'locked': 1,
                       'forbidden': 1, 'error': 1, 'compliance_percent': 25.0,
                       'firmware_outdated': 0, 'firmware_unknown': 0, 'default_password': 0}
    assert list(summary)[:1] == ['total'] and list(summary)[-1] == 'compliance_percent'
    assert audit.compliance_percent(99999, 100000) == 99.99
    assert audit.compliance_percent(2, 3) == 66.66
    assert audit.compliance_percent(0, 0) == 100.0
    assert audit.compliance_percent(5, 5) == 100.0


def test_summary_sentence_is_bounded():
    names = ['gs%04d' % number for number in range(1, 26)]
    summary = audit.registration_summary([{'status': 'registered'}] * 75 + [{'status': 'unregistered'}] * 20 + [{'status': 'locked'}] * 5)
    text = audit.summary_sentence(summary, names)
    assert text.startswith('Registration audit: 75 of 100 phones registered (75% compliant). Not compliant: 20 unregistered, 5 locked.')
    assert 'gs0010 and 15 more.' in text
    assert 'gs0011' not in text
    assert audit.summary_sentence(audit.registration_summary([{'status': 'registered'}]), []) == \
        'Registration audit: 1 of 1 phone registered (100% compliant).'
