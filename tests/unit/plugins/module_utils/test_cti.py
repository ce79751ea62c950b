# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CTI client against the fixture phone (a GRP2614's recorded answers, scripted ones for the odd cases): parsing,
error classes, retries, redaction."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti, redaction
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import connection_from_params, run_task
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import (
    PASSCODE, FixturePhone, recorded_answer, refused, timed_out, tls_failure,
)


def client_for(function=None, *answers, **conn):
    """A client of a GRP2614 fixture phone (passcode dialect) whose next answers to ``function`` are ``answers``."""
    phone = FixturePhone()
    if function is not None:
        phone.script(function, *answers)
    return CTIClient(phone.connection(name='gs0042', **conn), transport=phone), phone


def success(body, **extra):
    return dict({'response': 'success', 'body': body}, **extra)


def test_request_url_and_passcode_parameter():
    client, phone = client_for(port=8080, timeout=3)
    client.get_accounts()
    call = phone.requests[0]
    assert call['url'] == 'http://10.1.4.42:8080/cgi-bin/api-get_accounts'
    assert (call['params'], call['secrets']) == ({}, {'passcode': True}), 'the passcode, the right one, and nothing else'
    assert call['timeout'] == 3.0


def test_https_with_ca_path_verifies_against_it():
    client, phone = client_for(scheme='https', ca_path='/etc/gs-ca.pem')
    client.get_phone_status()
    assert phone.requests[0]['url'].startswith('https://10.1.4.42:443/')
    assert phone.requests[0]['verify'] == '/etc/gs-ca.pem'


def test_accounts_doc_and_new_firmware_shapes():
    client = client_for('api-get_accounts', success([
        {'id': 1, 'sip_server': 'pbx', 'sip_id': '1001', 'name': 'office', 'reg': 1},
        {'id': '2', 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0, 'auto_cfg': ''},
        {'id': 3, 'sip_server': 'pbx', 'sip_id': '1003', 'name': 'x', 'reg': '0'},
    ]))[0]
    accounts = client.get_accounts()
    assert [(a['id'], a['configured'], a['registered']) for a in accounts] == [(1, True, True), (2, False, False), (3, True, False)]
    assert accounts[1]['auto_cfg'] == ''
    assert cti.accounts_summary(accounts) == {'total': 3, 'configured': 2, 'registered': 1, 'all_registered': False}


def test_lines_doc_and_new_firmware_shapes():
    client = client_for('api-get_line_status', success([
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
    client = client_for('api-' + function, success(body))[0]
    with pytest.raises(CTIError) as caught:
        getattr(client, function)()
    assert caught.value.error_class == 'error'
    assert 'is not a list of objects with' in str(caught.value)


def test_unknown_phone_status_passes_through():
    client = client_for('api-get_phone_status', success('weird-new-state', misc='0'))[0]
    assert client.get_phone_status() == {'status': 'weird-new-state', 'misc': '0'}


@pytest.mark.parametrize('answer, error_class, status', [
    (recorded_answer('unauthorized'), 'auth_failed', 401),
    ({'response': 'error', 'body': 'unauthorized'}, 'auth_failed', 200),
    ({'response': 'error', 'body': 'locked', 'lockTime': 5}, 'locked', 200),
    (recorded_answer('forbidden'), 'forbidden', 403),
    ({'response': 'error', 'body': 'forbidden'}, 'forbidden', 200),
    (recorded_answer('not_found'), 'error', 404),
    ((500, 'text/plain', '<html>Internal error</html>'), 'error', 500),
    ((200, 'text/html', '<html><body>Login</body></html>'), 'error', 200),
    (b'\x00\xffnot json{', 'error', 200),
    ({'foo': 1}, 'error', 200),
    ([1, 2], 'error', 200),
    ({'response': 'success', 'body': 'not-a-list'}, 'error', 200),
    ({'response': 'error', 'body': 'failed'}, 'rejected', 200),
])
def test_error_classes(answer, error_class, status):
    client, phone = client_for('api-get_accounts', answer)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    error = caught.value
    assert error.error_class == error_class
    assert error.status == status
    assert str(error).startswith('gs0042 (10.1.4.42): ')
    assert PASSCODE not in str(error)
    assert len(phone.requests) == 1, 'only transport failures of reads are retried'


def test_locked_reports_minutes():
    client = client_for('api-get_line_status', {'response': 'error', 'body': 'locked', 'lockTime': 5})[0]
    with pytest.raises(CTIError) as caught:
        client.get_line_status()
    assert caught.value.to_result()['lock_minutes'] == 5
    assert '5 more minutes' in str(caught.value)


def test_read_retries_a_transport_failure_once():
    client, phone = client_for('api-get_accounts', refused(), success([]))
    assert client.get_accounts() == []
    assert len(phone.requests) == 2


def test_read_gives_up_after_the_retry_and_hides_the_passcode():
    client, phone = client_for('api-get_accounts', refused(), refused())
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'unreachable'
    assert 'connection refused' in str(caught.value)
    assert 'S3cr' not in str(caught.value) and 'passcode' not in str(caught.value)
    assert len(phone.requests) == 2


def test_timeout_is_unreachable_and_not_retried():
    # A phone that used up the whole timeout is not asked again: one slow phone must not hold a fleet task twice.
    client, phone = client_for('api-get_phone_status', timed_out(), timeout=2)
    with pytest.raises(CTIError) as caught:
        client.get_phone_status()
    assert caught.value.error_class == 'unreachable'
    assert 'did not answer api-get_phone_status within 2 s.' in str(caught.value)
    assert len(phone.requests) == 1, 'the phone would have answered a second time'
    # Not either once the phone accepted the passcode (a lost answer no longer stops the retry).
    client, phone = client_for(timeout=2)
    client.get_accounts()
    phone.script('api-get_phone_status', timed_out())
    with pytest.raises(CTIError):
        client.get_phone_status()
    assert phone.functions() == ['api-get_accounts', 'api-get_phone_status']


def test_an_answer_larger_than_the_cap_is_an_error_read_no_further():
    big = b'{"response": "success", "body": "' + b'x' * (2 * 1024 * 1024) + b'"}'
    client, phone = client_for('api-get_accounts', big)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'error' and 'larger than 1024 KiB' in str(caught.value)
    assert len(phone.requests) == 1, 'not asked again: it would answer the same'


def test_tls_failure_is_an_error_with_the_certificate_hint_and_not_retried():
    client, phone = client_for('api-get_accounts', tls_failure(), scheme='https')
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'error'
    assert 'TLS handshake failed' in str(caught.value) and 'validate_certs: false or ca_path' in str(caught.value)
    assert 'S3cr' not in str(caught.value)
    assert len(phone.requests) == 1


def test_commands_are_never_retried():
    client, phone = client_for('api-send_key', refused())
    with pytest.raises(CTIError):
        client.send_key(['OK'])
    assert len(phone.requests) == 1


def test_reboot_answer_and_dropped_connection_count_as_sent():
    client, phone = client_for()
    assert client.sys_operation('reboot') == {'sent': True, 'dropped': False, 'body': 'savereboot'}
    assert phone.requests[0]['params']['request'] == 'REBOOT'
    client, phone = client_for()
    phone.set_fault('drop_on_reboot')
    assert client.sys_operation('REBOOT') == {'sent': True, 'dropped': True, 'body': None}
    assert len(phone.requests) == 1


def test_reboot_refused_connection_is_not_sent():
    client = client_for('api-sys_operation', refused())[0]
    with pytest.raises(CTIError) as caught:
        client.sys_operation('REBOOT')
    assert caught.value.error_class == 'unreachable'


def test_unexpected_command_answers_are_rejected():
    client = client_for('api-sys_operation', success('unknown'))[0]
    with pytest.raises(CTIError) as caught:
        client.sys_operation('REBOOT')
    assert caught.value.error_class == 'rejected'
    client = client_for('api-phone_operation', success(False))[0]
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
    phone = FixturePhone()
    result = run_task(lambda client, params, check_mode: pytest.fail('no request may be made'),
                      {'host': '10.1.4.42', 'phone_name': 'gs0042'}, False, transport=phone)
    assert result['failed'] is True and result['msg'].startswith('gs0042: no passcode')
    assert phone.requests == []


def test_an_html_401_to_the_passcode_dialect_says_the_phone_may_speak_the_web_session():
    client = client_for(passcode='not-the-phones')[0]   # the phone's recorded 401 page
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert 'grandstream_auth: session' in str(caught.value) and 'not retried' in str(caught.value)
    # Another phone: this one's refusal is remembered, a second client would not even ask.
    client = client_for('api-get_accounts', {'response': 'error', 'body': 'unauthorized'}, host='10.1.4.43')[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert 'grandstream_auth: session' not in str(caught.value), 'a JSON refusal is the passcode dialect speaking'
