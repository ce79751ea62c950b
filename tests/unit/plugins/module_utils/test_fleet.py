# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet fan-out and the registration audit against canned phone answers (no network)."""

import json
import threading
import time

import pytest
import requests

from ansible_collections.phonefleet.grandstream.plugins.module_utils import fleet
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.fleet import FleetTarget, fan_out

PASSCODE = 'S3cr&t#pw'

ACCOUNT_OK = {'id': 1, 'sip_server': 'pbx.example.net', 'sip_id': '1001', 'name': 'office', 'reg': 1}
ACCOUNT_DOWN = {'id': 2, 'sip_server': 'pbx.example.net', 'sip_id': '1002', 'name': 'lab', 'reg': 0}
ACCOUNT_EMPTY = {'id': 3, 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0}


class FakeResponse:
    def __init__(self, status=200, body=None, raw=None, content_type='text/plain;charset=UTF-8'):
        self.status_code = status
        self.headers = {'Content-Type': content_type}
        self.content = raw if raw is not None else json.dumps(body).encode()


def success(body, **extra):
    return FakeResponse(body=dict({'response': 'success', 'body': body}, **extra))


def refused():
    cause = ConnectionRefusedError(111, 'Connection refused')
    error = requests.exceptions.ConnectionError('Max retries exceeded with url: /cgi-bin/api-get_accounts?passcode=%s (%s)'
                                                % (PASSCODE, cause))
    error.__context__ = cause
    return error


class FakePhone:
    """A session for one phone: answers per CTI function (a FakeResponse, an exception, or a list of them in turn)."""

    def __init__(self, answers, delay=0.0):
        self.answers = dict(answers)
        self.delay = delay
        self.calls = []
        self.trust_env = True
        self.closed = False

    def get(self, url, params=None, timeout=None, verify=None, allow_redirects=None):
        function = url.rsplit('/', 1)[-1]
        self.calls.append(function)
        if self.delay:
            time.sleep(self.delay)
        answer = self.answers[function]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self):
        self.closed = True


def healthy(accounts=None, status='available'):
    return {'api-get_accounts': success([ACCOUNT_OK, ACCOUNT_EMPTY] if accounts is None else accounts),
            'api-get_phone_status': success(status, misc='0')}


def make_targets(count, prefix='gs'):
    return [FleetTarget('%s%04d' % (prefix, number), CTIConnection('10.1.4.%d' % number, passcode=PASSCODE, name='%s%04d' % (prefix, number)),
                        {'site': 'hq', 'model': 'GRP2614'}) for number in range(1, count + 1)]


def run_audit(phones, required=None, **kwargs):
    """phones: {name: FakePhone}; returns (records by name, fan-out results by name)."""
    targets = [FleetTarget(name, CTIConnection('10.1.4.%d' % index, passcode=PASSCODE, port=8080, name=name),
                           {'site': 'hq', 'model': 'GRP2614'})
               for index, name in enumerate(sorted(phones), 1)]
    results = fan_out(targets, fleet.audit_registration(required), session_factory=lambda target: phones[target.name], **kwargs)
    records = [fleet.registration_record(result, target) for result, target in zip(results, targets)]
    return dict((record['name'], record) for record in records), dict((result['name'], result) for result in results)


# -- the engine ---------------------------------------------------------------------------

def test_results_come_in_input_order_and_concurrency_is_bounded():
    active = {'now': 0, 'peak': 0}
    lock = threading.Lock()

    def work(client, target):
        with lock:
            active['now'] += 1
            active['peak'] = max(active['peak'], active['now'])
        time.sleep(0.01 if target.name.endswith(('1', '3', '7')) else 0.002)
        with lock:
            active['now'] -= 1
        return {'seen': target.name}

    targets = make_targets(60)
    results = fan_out(targets, work, concurrency=7, session_factory=lambda target: FakePhone({}))
    assert [result['name'] for result in results] == [target.name for target in targets]
    assert [result['data']['seen'] for result in results] == [target.name for target in targets]
    assert all(result['ok'] and result['error_class'] is None and result['reachable'] for result in results)
    assert 1 < active['peak'] <= 7


def test_one_client_per_phone_and_sessions_are_closed():
    phones = dict(('gs%04d' % number, FakePhone(healthy())) for number in range(1, 6))
    targets = [FleetTarget(name, CTIConnection('10.0.0.%d' % index, passcode=PASSCODE, name=name)) for index, name in enumerate(sorted(phones), 1)]
    fan_out(targets, fleet.audit_registration(), concurrency=3, session_factory=lambda target: phones[target.name])
    for phone in phones.values():
        assert phone.calls == ['api-get_accounts', 'api-get_phone_status']
        assert phone.closed
        assert phone.trust_env is False


def test_empty_fleet_and_bad_arguments():
    assert fan_out([], lambda client, target: {}) == []
    with pytest.raises(ValueError):
        fan_out(make_targets(1), lambda client, target: {}, concurrency=0)
    with pytest.raises(ValueError):
        fan_out(make_targets(1), lambda client, target: {}, deadline=-1)


def test_cti_error_becomes_class_and_sentence():
    def work(client, target):
        raise CTIError(target.label, 'forbidden', 'CTI refused the request (HTTP 403).', status=403)

    result = fan_out(make_targets(1), work, session_factory=lambda target: FakePhone({}))[0]
    assert result['ok'] is False
    assert result['error_class'] == 'forbidden'
    assert result['error'] == 'CTI refused the request (HTTP 403).'
    assert 'Allowed IP List' in result['hint']
    assert result['message'].startswith('gs0001 (10.1.4.1): CTI refused the request (HTTP 403).')
    assert result['http_status'] == 403
    assert result['reachable'] is True


def test_unexpected_exception_is_one_line_without_traceback_or_passcode():
    def work(client, target):
        raise KeyError('body with %s inside' % PASSCODE)

    result = fan_out(make_targets(1), work, session_factory=lambda target: FakePhone({}))[0]
    assert result['error_class'] == 'error'
    assert result['error'].startswith('unexpected KeyError')
    assert PASSCODE not in json.dumps(result)
    assert 'Traceback' not in json.dumps(result)
    assert '\n' not in result['message']


def test_a_short_passcode_leaves_names_addresses_and_phone_data_alone():
    # GRP26xx user passwords default to 123: starring it out of "gs0123" would mangle the report and show the passcode.
    target = FleetTarget('gs0123', CTIConnection('10.1.23.123', passcode='123', name='gs0123'))
    phone = FakePhone({'api-get_accounts': success([dict(ACCOUNT_OK, sip_id='1123')]), 'api-get_phone_status': success('available')})
    record = fleet.registration_record(fan_out([target], fleet.audit_registration(), session_factory=lambda target: phone)[0], target)
    assert (record['name'], record['host'], record['accounts'][0]['sip_id']) == ('gs0123', '10.1.23.123', '1123')
    assert record['status'] == 'registered'


def test_passcode_is_scrubbed_from_the_sentences_of_a_failure():
    def work(client, target):
        raise CTIError(target.label, 'error', 'the phone said passcode=%s and %s.' % (PASSCODE, PASSCODE), hint='not %s' % PASSCODE)

    result = fan_out(make_targets(1), work, session_factory=lambda target: FakePhone({}))[0]
    assert PASSCODE not in json.dumps(result)
    assert result['name'] == 'gs0001'
    assert result['message'].startswith('gs0001 (10.1.4.1): the phone said passcode=********')


def test_target_with_a_problem_is_not_contacted():
    called = []
    target = FleetTarget('gs0009', variables={'ansible_host': '10.1.4.9'}, problem='its connection variables are unusable: port is not a number')
    result = fan_out([target], lambda client, target: called.append(target) or {})[0]
    assert called == []
    assert result['error_class'] == 'error'
    assert result['host'] == '10.1.4.9'
    assert 'port is not a number' in result['message']
    assert result['reachable'] is None
    with pytest.raises(ValueError):
        FleetTarget('gs0010')


def test_deadline_marks_unstarted_and_unfinished_phones():
    targets = make_targets(10)

    release = threading.Event()

    def work(client, target):
        release.wait(10)  # in progress until the assertions are done
        return {}

    started = time.monotonic()
    try:
        results = fan_out(targets, work, concurrency=2, deadline=0.15, session_factory=lambda target: FakePhone({}))
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 5, 'fan_out must return at the deadline, not wait for the phones in progress'
    assert [result['error_class'] for result in results[:2]] == ['interrupted', 'interrupted']
    assert all(result['error_class'] == 'not_attempted' for result in results[2:])
    assert 'deadline of 0.15 s' in results[5]['error']
    assert results[5]['reachable'] is None


def test_deadline_not_reached_changes_nothing():
    results = fan_out(make_targets(5), lambda client, target: {'x': 1}, concurrency=5, deadline=30,
                      session_factory=lambda target: FakePhone({}))
    assert all(result['ok'] for result in results)


def test_client_options_reach_every_client():
    seen = []

    def work(client, target):
        seen.append(client.connection.name)
        return {}

    fan_out(make_targets(2), work, session_factory=lambda target: FakePhone({}), client_options={})
    assert sorted(seen) == ['gs0001', 'gs0002']


# -- the registration audit ---------------------------------------------------------------

def test_registered_phone():
    records, dummy = run_audit({'gs1': FakePhone(healthy())})
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
    records, dummy = run_audit({'gs1': FakePhone(healthy(accounts))}, required=required)
    assert records['gs1']['status'] == status
    assert records['gs1']['error'] == reason
    assert (records['gs1']['hint'] is None) == (status == 'registered')


def test_wrong_passcode_is_tried_once_and_phone_status_not_asked():
    phone = FakePhone({'api-get_accounts': FakeResponse(401, raw=b'<html>401 Unauthorized</html>', content_type='text/html')})
    records, results = run_audit({'gs1': phone})
    assert phone.calls == ['api-get_accounts']
    assert records['gs1']['status'] == 'auth_failed'
    assert records['gs1']['http_status'] == 401
    assert 'grandstream_passcode' in records['gs1']['hint']
    assert results['gs1']['message'].startswith('gs1 (10.1.4.1:8080): the phone rejected the passcode')


@pytest.mark.parametrize('answer, status', [
    (FakeResponse(body={'response': 'error', 'body': 'unauthorized'}), 'auth_failed'),
    (FakeResponse(body={'response': 'error', 'body': 'locked', 'lockTime': 5}), 'locked'),
    (FakeResponse(403, raw=b'<html>Forbidden</html>', content_type='text/html'), 'forbidden'),
    (FakeResponse(body={'response': 'error', 'body': 'forbidden'}), 'forbidden'),
    (FakeResponse(404, raw=b'<html>Not Found</html>', content_type='text/html'), 'error'),
    (FakeResponse(500, raw=b'<html>oops</html>', content_type='text/html'), 'error'),
    (FakeResponse(raw=b'<!DOCTYPE html><html>login</html>', content_type='text/html'), 'error'),
    (FakeResponse(raw=b'\x00not json{'), 'error'),
    (FakeResponse(body={'foo': 1}), 'error'),
    (FakeResponse(body={'response': 'error', 'body': 'failed'}), 'error'),  # a refused read (rejected) is an error
    ([refused(), refused()], 'unreachable'),
    ([requests.exceptions.ReadTimeout('read timed out'), requests.exceptions.ReadTimeout('read timed out')], 'unreachable'),
])
def test_error_classes(answer, status):
    records, results = run_audit({'gs1': FakePhone({'api-get_accounts': answer})})
    assert records['gs1']['status'] == status
    assert records['gs1']['compliant'] is False
    assert records['gs1']['reachable'] is (status != 'unreachable')
    assert records['gs1']['error']
    assert PASSCODE not in json.dumps([records, results])


def test_locked_phone_keeps_lock_minutes():
    records, dummy = run_audit({'gs1': FakePhone({'api-get_accounts': FakeResponse(body={'response': 'error', 'body': 'locked', 'lockTime': 4})})})
    assert records['gs1']['lock_minutes'] == 4
    assert 'locked for 4 more minutes' in records['gs1']['error']


def test_unreachable_read_is_retried_once():
    phone = FakePhone({'api-get_accounts': [refused(), success([ACCOUNT_OK])], 'api-get_phone_status': success('busy', misc='0')})
    records, dummy = run_audit({'gs1': phone})
    assert phone.calls == ['api-get_accounts', 'api-get_accounts', 'api-get_phone_status']
    assert records['gs1']['status'] == 'registered'
    assert records['gs1']['phone_status'] == 'busy'


def test_phone_status_not_supported_keeps_the_accounts_verdict():
    phone = FakePhone({'api-get_accounts': success([ACCOUNT_OK]),
                       'api-get_phone_status': FakeResponse(404, raw=b'<html>Not Found</html>', content_type='text/html')})
    records, dummy = run_audit({'gs1': phone})
    assert records['gs1']['status'] == 'registered'
    assert records['gs1']['phone_status'] is None
    assert 'HTTP 404' in records['gs1']['phone_status_error']


def test_phone_status_auth_failure_fails_the_phone():
    phone = FakePhone({'api-get_accounts': success([ACCOUNT_OK]),
                       'api-get_phone_status': FakeResponse(body={'response': 'error', 'body': 'unauthorized'})})
    records, dummy = run_audit({'gs1': phone})
    assert records['gs1']['status'] == 'auth_failed'


def test_unknown_phone_status_passes_through():
    records, dummy = run_audit({'gs1': FakePhone(healthy(status='weird'))})
    assert records['gs1']['phone_status'] == 'weird'
    assert records['gs1']['status'] == 'registered'


def test_record_of_a_deadline_phone_is_an_error_with_its_class():
    target = make_targets(1)[0]
    result = fan_out([target], lambda client, target: time.sleep(0.3) or {}, deadline=0.05, session_factory=lambda target: FakePhone({}))[0]
    record = fleet.registration_record(result, target)
    assert record['status'] == 'error'
    assert record['error_class'] == 'interrupted'


def test_summary_counts_every_status_and_rounds_down():
    records = [{'status': status} for status in ('registered', 'registered', 'unregistered', 'unreachable', 'auth_failed',
                                                 'locked', 'forbidden', 'error')]
    summary = fleet.registration_summary(records)
    assert summary == {'total': 8, 'registered': 2, 'unregistered': 1, 'unreachable': 1, 'auth_failed': 1, 'locked': 1,
                       'forbidden': 1, 'error': 1, 'compliance_percent': 25.0}
    assert list(summary)[:1] == ['total'] and list(summary)[-1] == 'compliance_percent'
    assert fleet.compliance_percent(99999, 100000) == 99.99
    assert fleet.compliance_percent(2, 3) == 66.66
    assert fleet.compliance_percent(0, 0) == 100.0
    assert fleet.compliance_percent(5, 5) == 100.0


def test_summary_sentence_is_bounded():
    names = ['gs%04d' % number for number in range(1, 26)]
    summary = fleet.registration_summary([{'status': 'registered'}] * 75 + [{'status': 'unregistered'}] * 20 + [{'status': 'locked'}] * 5)
    text = fleet.summary_sentence(summary, names)
    assert text.startswith('Registration audit: 75 of 100 phones registered (75% compliant). Not compliant: 20 unregistered, 5 locked.')
    assert 'gs0010 and 15 more.' in text
    assert 'gs0011' not in text
    assert fleet.summary_sentence(fleet.registration_summary([{'status': 'registered'}]), []) == \
        'Registration audit: 1 of 1 phone registered (100% compliant).'
