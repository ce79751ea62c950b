# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The web-session dialect of the CTI client (cti-api.md section 5) against the fixture phone's WP826 (and the older
GXP1628 plain-password login): login, reuse, re-login, logout, wrong passwords and locks, and the device facts."""

import hashlib
import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone, recorded_answer

PASSWORD = 'Wp8-S3cr&t'


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def wp826(passcode=PASSWORD):
    """A WP826 (web-session dialect, fw 1.0.3.35) at 10.1.4.50 whose admin password is ``passcode``."""
    return FixturePhone.of_model('WP826', passcode=passcode, host='10.1.4.50')


def client_for(phone, auth='session'):
    connection = CTIConnection('10.1.4.50', passcode=PASSWORD, name='wp0001', auth=auth)
    return CTIClient(connection, transport=phone)


def logins(phone):
    return phone.functions().count('dologin')


def test_one_login_serves_every_call_of_the_client_and_close_logs_out():
    phone = wp826()
    client = client_for(phone)
    assert client.get_accounts()[0]['registered'] is True
    assert client.get_phone_status()['status'] == 'available'
    client.close()
    assert phone.functions() == ['access', 'dologin', 'api-get_accounts', 'api-get_phone_status', 'dologout']
    assert phone.requests[0]['params'] == {'access': sha('admin')}
    assert (phone.requests[1]['params'], phone.requests[1]['secrets']) == ({'username': 'admin'}, {'password': True})
    assert phone.requests[2]['secrets'] == {'sid': True, 'cookie': True}, "the login's sid, in the form and the cookie"
    assert phone.sid is None


def test_plain_login_of_older_firmware_has_no_access_step():
    phone = FixturePhone.of_model('GXP1628', passcode=PASSWORD, host='10.1.4.50')
    client = client_for(phone, auth='session_plain')
    client.get_accounts()
    assert phone.functions() == ['dologin', 'api-get_accounts']
    assert phone.requests[0]['secrets'] == {'password': True}, 'the plain password'


def test_an_expired_session_is_logged_in_again_once():
    phone = wp826()
    client = client_for(phone)
    client.get_accounts()
    phone.expire_session()
    client.get_accounts()  # 401: expired -> one new login, then the call again
    assert phone.functions() == ['access', 'dologin', 'api-get_accounts', 'api-get_accounts', 'access', 'dologin',
                                 'api-get_accounts']
    assert logins(phone) == 2


def test_a_session_refused_right_after_the_login_fails_without_a_loop():
    phone = wp826()
    phone.script('api-get_accounts', recorded_answer('unauthorized', phone.folder), recorded_answer('unauthorized', phone.folder))
    with pytest.raises(CTIError) as caught:
        client_for(phone).get_accounts()
    assert caught.value.error_class == 'auth_failed' and 'right after the login' in str(caught.value)
    assert logins(phone) == 1


@pytest.mark.parametrize('body, words, left', [('wrong4', '4 attempts left before the phone locks', 4),
                                               ('wrong1', '1 attempt left', 1),
                                               ('wrong', 'did not say how many attempts are left', None)])
def test_a_wrong_password_is_auth_failed_once_with_the_attempts_left(body, words, left):
    phone = wp826()
    phone.script('dologin', {'response': 'error', 'body': body})
    client = client_for(phone)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'auth_failed' and words in str(caught.value)
    assert caught.value.details.get('attempts_left') == left
    assert logins(phone) == 1, 'a login is never retried'
    assert PASSWORD not in str(caught.value)


def test_a_wrong_password_of_the_phone_itself_is_refused_once():
    phone = wp826(passcode='An0ther-pw')
    with pytest.raises(CTIError) as caught:
        client_for(phone).get_accounts()
    assert caught.value.error_class == 'auth_failed' and caught.value.details.get('attempts_left') == 4
    assert logins(phone) == 1 and phone.requests[1]['secrets'] == {'password': False}


def test_a_locked_phone_says_for_how_long():
    phone = wp826()
    phone.script('dologin', recorded_answer('dologin_locked', phone.folder))
    with pytest.raises(CTIError) as caught:
        client_for(phone).get_accounts()
    assert caught.value.error_class == 'locked' and caught.value.to_result()['lock_minutes'] == 5
    assert '5 more minutes' in str(caught.value)


def test_the_sid_never_shows_in_an_error():
    phone = wp826()
    client = client_for(phone)
    client.get_accounts()
    sid = phone.sid
    with pytest.raises(CTIError) as caught:
        client.call('api-unknown')
    assert caught.value.status == 404
    phone.script('api-get_accounts', (500, 'text/plain', 'oops sid=%s %s' % (sid, sid)))
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert sid not in str(caught.value) and 'HTTP 500' in str(caught.value)


def test_device_facts_come_from_the_login_and_model_define_js():
    phone = wp826()
    client = client_for(phone)
    assert client.get_model() == 'WP826'
    facts = client.login_facts()
    assert facts == {'ver': '1.0.3.35', 'mac': '00:0B:82:12:34:56', 'defaultAuth': False, 'defaultLogin': False}
    assert phone.sid not in json.dumps(facts)
    first = phone.requests[0]
    assert (first['method'], first['params'], first['secrets'], first['function']) == ('GET', {}, {}, 'model.define.js'), \
        'model.define.js needs no login and gets no secret'


def old_passcode_phone():
    """A passcode-dialect phone whose firmware has no model.define.js."""
    phone = FixturePhone.of_model('GRP2614', passcode='x', host='10.1.4.50')
    phone.model_js = False
    return phone


def test_a_passcode_phone_tells_no_login_facts_and_a_missing_model_file_is_an_error():
    passcode_client = CTIClient(CTIConnection('10.1.4.50', passcode='x'), transport=old_passcode_phone())
    assert passcode_client.login_facts() is None
    with pytest.raises(CTIError) as caught:
        passcode_client.get_model()
    assert caught.value.status == 404 and 'older firmware' in str(caught.value)


def test_a_phone_without_the_session_login_says_which_dialect_to_use():
    passcode_only = FixturePhone.of_model('GRP2614', passcode=PASSWORD, host='10.1.4.50')
    passcode_only.script('access', recorded_answer('not_found'))   # a firmware without the web-session login
    with pytest.raises(CTIError) as caught:
        client_for(passcode_only).get_accounts()
    assert 'grandstream_auth: passcode' in str(caught.value)


def test_read_device_tells_what_each_dialect_knows_and_why_the_rest_is_null():
    session_device = cti_tasks.read_device(client_for(wp826()))
    assert session_device == {'model': 'WP826', 'firmware': '1.0.3.35', 'mac': '00:0B:82:12:34:56',
                              'default_password': False, 'auth': 'session', 'unknown_reason': {}}
    passcode_client = CTIClient(CTIConnection('10.1.4.50', passcode='x'), transport=old_passcode_phone())
    passcode_device = cti_tasks.read_device(passcode_client)
    assert passcode_device['model'] is None and passcode_device['firmware'] is None
    assert passcode_device['default_password'] is None and passcode_device['auth'] == 'passcode'
    assert sorted(passcode_device['unknown_reason']) == ['default_password', 'firmware', 'mac', 'model']
    assert 'passcode dialect does not report it' in passcode_device['unknown_reason']['firmware']
    assert 'older firmware' in passcode_device['unknown_reason']['model']


def test_read_device_fails_when_the_login_fails():
    with pytest.raises(CTIError) as caught:
        cti_tasks.read_device(client_for(wp826(passcode='An0ther-pw')))
    assert caught.value.error_class == 'auth_failed'
