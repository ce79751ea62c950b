# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CTI client against canned phone answers: parsing, error classes, retries, redaction."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti, redaction
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import connection_from_params, run_task
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.fake_http import (
    FakeResponse, FakeTransportBase, refused, reset, timed_out, tls_failure,
)

PASSCODE = 'S3cr&t#pw'


class FakeSession(FakeTransportBase):
    """Answers from a list: a FakeResponse, or an exception to raise."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def get(self, url, params=None, timeout=None, verify=None, allow_redirects=None):
        self.calls.append({'url': url, 'params': dict(params or {}), 'timeout': timeout, 'verify': verify})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def client_for(*answers, **conn):
    session = FakeSession(*answers)
    conn.setdefault('passcode', PASSCODE)
    return CTIClient(CTIConnection('10.1.4.42', name='gs0042', **conn), transport=session), session


def success(body, **extra):
    return FakeResponse(body=dict({'response': 'success', 'body': body}, **extra))


def dropped():
    return reset()


def test_request_url_and_passcode_parameter():
    client, session = client_for(success([]), port=8080, timeout=3)
    client.get_accounts()
    call = session.calls[0]
    assert call['url'] == 'http://10.1.4.42:8080/cgi-bin/api-get_accounts'
    assert call['params'] == {'passcode': PASSCODE}
    assert call['timeout'] == 3.0


def test_https_with_ca_path_verifies_against_it():
    client, session = client_for(success('available'), scheme='https', ca_path='/etc/gs-ca.pem')
    client.get_phone_status()
    assert session.calls[0]['url'].startswith('https://10.1.4.42:443/')
    assert session.calls[0]['verify'] == '/etc/gs-ca.pem'


def test_accounts_doc_and_new_firmware_shapes():
    client = client_for(success([
        {'id': 1, 'sip_server': 'pbx', 'sip_id': '1001', 'name': 'office', 'reg': 1},
        {'id': '2', 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0, 'auto_cfg': ''},
        {'id': 3, 'sip_server': 'pbx', 'sip_id': '1003', 'name': 'x', 'reg': '0'},
    ]))[0]
    accounts = client.get_accounts()
    assert [(a['id'], a['configured'], a['registered']) for a in accounts] == [(1, True, True), (2, False, False), (3, True, False)]
    assert accounts[1]['auto_cfg'] == ''
    assert cti.accounts_summary(accounts) == {'total': 3, 'configured': 2, 'registered': 1, 'all_registered': False}


def test_lines_doc_and_new_firmware_shapes():
    client = client_for(success([
        {'line': 1, 'state': 'connected', 'acct': '1', 'remotename': 'Rec', 'remotenumber': '2001', 'active': 1},
        {'state': 'idle', 'line': 2, 'acct': 0, 'remotename': '', 'remotenumber': '', 'active': 0, 'conf': 0},
        {'line': 3, 'state': 'ONHOLD', 'acct': 2, 'conf': 1, 'active': 0},
    ]))[0]
    lines = client.get_line_status()
    assert [(line['line'], line['state'], line['in_use'], line['conference']) for line in lines] == [
        (1, 'connected', True, False), (2, 'idle', False, False), (3, 'onhold', True, True)]
    assert lines[0]['account'] == 1 and lines[0]['remote_number'] == '2001'
    assert lines[1]['account'] is None, 'newer firmware shows acct 0 on an idle line: not an account'


@pytest.mark.parametrize('function, body', [
    ('get_accounts', {'unexpected': True}),
    ('get_accounts', [{'id': 1, 'sip_id': '1001', 'reg': 1}, {'foo': 1}]),
    ('get_line_status', {'unexpected': True}),
    ('get_line_status', [{'foo': 1}]),
])
def test_objects_without_any_known_key_are_the_wrong_shape(function, body):
    # A success envelope whose body holds something else must not read as "no account configured" or "idle line".
    client = client_for(success(body))[0]
    with pytest.raises(CTIError) as caught:
        getattr(client, function)()
    assert caught.value.error_class == 'error'
    assert 'is not a list of objects with' in str(caught.value)


def test_unknown_phone_status_passes_through():
    client = client_for(success('weird-new-state', misc='0'))[0]
    assert client.get_phone_status() == {'status': 'weird-new-state', 'misc': '0'}


@pytest.mark.parametrize('answer, error_class, status', [
    (FakeResponse(401, raw=b'<html>401 Unauthorized</html>', content_type='text/html'), 'auth_failed', 401),
    (FakeResponse(body={'response': 'error', 'body': 'unauthorized'}), 'auth_failed', 200),
    (FakeResponse(body={'response': 'error', 'body': 'locked', 'lockTime': 5}), 'locked', 200),
    (FakeResponse(403, raw=b'<html>Forbidden</html>', content_type='text/html'), 'forbidden', 403),
    (FakeResponse(body={'response': 'error', 'body': 'forbidden'}), 'forbidden', 200),
    (FakeResponse(404, raw=b'<html>Not Found</html>'), 'error', 404),
    (FakeResponse(500, raw=b'<html>Internal error</html>'), 'error', 500),
    (FakeResponse(200, raw=b'<html><body>Login</body></html>', content_type='text/html'), 'error', 200),
    (FakeResponse(200, raw=b'\x00\xffnot json{'), 'error', 200),
    (FakeResponse(body={'foo': 1}), 'error', 200),
    (FakeResponse(body=[1, 2]), 'error', 200),
    (FakeResponse(body={'response': 'success', 'body': 'not-a-list'}), 'error', 200),
    (FakeResponse(body={'response': 'error', 'body': 'failed'}), 'rejected', 200),
])
def test_error_classes(answer, error_class, status):
    client, session = client_for(answer)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    error = caught.value
    assert error.error_class == error_class
    assert error.status == status
    assert str(error).startswith('gs0042 (10.1.4.42): ')
    assert PASSCODE not in str(error)
    assert len(session.calls) == 1, 'only transport failures of reads are retried'


def test_locked_reports_minutes():
    client = client_for(FakeResponse(body={'response': 'error', 'body': 'locked', 'lockTime': 5}))[0]
    with pytest.raises(CTIError) as caught:
        client.get_line_status()
    assert caught.value.to_result()['lock_minutes'] == 5
    assert '5 more minutes' in str(caught.value)


def test_read_retries_a_transport_failure_once():
    client, session = client_for(refused(), success([]))
    assert client.get_accounts() == []
    assert len(session.calls) == 2


def test_read_gives_up_after_the_retry_and_hides_the_passcode():
    client, session = client_for(refused(), refused())
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'unreachable'
    assert 'connection refused' in str(caught.value)
    assert 'S3cr' not in str(caught.value) and 'passcode' not in str(caught.value)
    assert len(session.calls) == 2


def test_timeout_is_unreachable_and_not_retried():
    # A phone that used up the whole timeout is not asked again: one slow phone must not hold a fleet task twice.
    client, session = client_for(timed_out(), success('available'), timeout=2)
    with pytest.raises(CTIError) as caught:
        client.get_phone_status()
    assert caught.value.error_class == 'unreachable'
    assert 'did not answer api-get_phone_status within 2 s.' in str(caught.value)
    assert len(session.calls) == 1


def test_an_answer_larger_than_the_cap_is_an_error_read_no_further():
    big = FakeResponse(raw=b'{"response": "success", "body": "' + b'x' * (2 * 1024 * 1024) + b'"}')
    client, session = client_for(big, success([]))
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'error' and 'larger than 1024 KiB' in str(caught.value)
    assert len(session.calls) == 1, 'not asked again: it would answer the same'


def test_tls_failure_is_an_error_with_the_certificate_hint_and_not_retried():
    client, session = client_for(tls_failure(), success([]), scheme='https')
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'error'
    assert 'TLS handshake failed' in str(caught.value) and 'validate_certs: false or ca_path' in str(caught.value)
    assert 'S3cr' not in str(caught.value)
    assert len(session.calls) == 1


def test_commands_are_never_retried():
    client, session = client_for(refused(), success('complete'))
    with pytest.raises(CTIError):
        client.send_key(['OK'])
    assert len(session.calls) == 1


def test_reboot_answer_and_dropped_connection_count_as_sent():
    client, session = client_for(success('savereboot'))
    assert client.sys_operation('reboot') == {'sent': True, 'dropped': False, 'body': 'savereboot'}
    assert session.calls[0]['params']['request'] == 'REBOOT'
    client, session = client_for(dropped())
    assert client.sys_operation('REBOOT') == {'sent': True, 'dropped': True, 'body': None}
    assert len(session.calls) == 1


def test_reboot_refused_connection_is_not_sent():
    client = client_for(refused())[0]
    with pytest.raises(CTIError) as caught:
        client.sys_operation('REBOOT')
    assert caught.value.error_class == 'unreachable'


def test_unexpected_command_answers_are_rejected():
    client = client_for(success('unknown'))[0]
    with pytest.raises(CTIError) as caught:
        client.sys_operation('REBOOT')
    assert caught.value.error_class == 'rejected'
    client = client_for(success(False))[0]
    with pytest.raises(CTIError) as caught:
        client.phone_operation('endcall')
    assert caught.value.error_class == 'rejected'


def test_redact_removes_raw_and_encoded_passcodes():
    text = 'url?passcode=S3cr%26t%23pw&x=1 raw S3cr&t#pw plus S3cr%26t%23pw password=abc'
    cleaned = redaction.redact(text, [PASSCODE])
    assert 'S3cr' not in cleaned and 'abc' not in cleaned
    assert cleaned.count(redaction.REDACTED) >= 3


def test_redact_hides_the_longest_secret_whole_and_session_ids():
    assert redaction.redact('pw hunter2.example and hunter2', ['hunter2', 'hunter2.example']) == 'pw ******** and ********'
    assert redaction.redact('Cookie sid=abc123; x', []) == 'Cookie sid=********; x'
    assert redaction.redact('aside=1', []) == 'aside=1'
    assert redaction.redact(None, ['x']) is None


def test_connection_repr_and_label_hide_the_passcode():
    connection = CTIConnection('10.1.4.42', passcode=PASSCODE, port=8080, name='gs0042')
    assert PASSCODE not in repr(connection)
    assert connection.label == 'gs0042 (10.1.4.42:8080)'
    assert CTIConnection('10.1.4.42').label == '10.1.4.42'


def test_send_key_tokens_are_validated_before_sending():
    assert cti.normalize_keys(['1', '#', '*', 'ok', 'MPK12']) == ['1', 'POUND', 'STAR', 'OK', 'MPK12']
    with pytest.raises(ValueError) as caught:
        cti.normalize_keys(['OK', 'FLASH', 'MPK0'])
    assert "'FLASH'" in str(caught.value) and "'MPK0'" in str(caught.value)


def test_bad_connection_settings():
    with pytest.raises(ValueError):
        CTIConnection('')
    with pytest.raises(ValueError):
        CTIConnection('10.0.0.1', scheme='ftp')


def test_no_passcode_fails_before_anything_is_sent():
    # A request without a passcode would count towards the phone's lockout.
    with pytest.raises(ValueError) as caught:
        connection_from_params({'host': '10.1.4.42'})
    assert 'grandstream_passcode' in str(caught.value) and 'GRANDSTREAM_PASSCODE' in str(caught.value)
    result = run_task(lambda client, params, check_mode: pytest.fail('no request may be made'),
                      {'host': '10.1.4.42', 'phone_name': 'gs0042'}, False, transport=FakeSession())
    assert result['failed'] is True and result['msg'].startswith('gs0042: no passcode')


def test_an_html_401_to_the_passcode_dialect_says_the_phone_may_speak_the_web_session():
    client = client_for(FakeResponse(401, raw=b'<html>401 Unauthorized</html>', content_type='text/html'))[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert 'grandstream_auth: session' in str(caught.value) and 'not retried' in str(caught.value)
    client = client_for(FakeResponse(body={'response': 'error', 'body': 'unauthorized'}))[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert 'grandstream_auth: session' not in str(caught.value), 'a JSON refusal is the passcode dialect speaking'
