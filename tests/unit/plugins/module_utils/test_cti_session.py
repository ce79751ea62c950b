# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The web-session dialect of the CTI client (cti-api.md section 5) against a fake WP8xx: login, reuse, re-login,
logout, wrong passwords and locks, and the device facts."""

import hashlib
import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.fake_http import FakeResponse, FakeTransportBase

PASSWORD = 'Wp8-S3cr&t'
SID = 'a1' * 32


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def envelope(body, response='success', **extra):
    return FakeResponse(body=dict({'response': response, 'body': body}, **extra))


class FakeWebPhone(FakeTransportBase):
    """A session-dialect phone: /cgi-bin/access, dologin, dologout and POSTed api-* calls with the sid."""

    def __init__(self, plain=False, wrong=None, locked=False, expire_after=None, model_js=True):
        self.plain = plain
        self.wrong = wrong              # answer every login with this body ("wrong4", "wrong")
        self.locked = locked
        self.expire_after = expire_after  # api calls a session serves before it expires
        self.model_js = model_js
        self.calls = []
        self.sid = None
        self.served = 0
        self.nonce = None
        self.logins = 0

    def get(self, url, params=None, timeout=None, verify=None, allow_redirects=None):
        self.calls.append(('GET', url.split('/', 3)[-1], dict(params or {}), {}))
        if url.endswith('/json/configs/model.define.js'):
            if not self.model_js:
                return FakeResponse(404, raw=b'<html>404</html>', content_type='text/html')
            return FakeResponse(raw=b'{"model":"WP826","defines":{"x":1},"oem_id":"0"}')
        return FakeResponse(401, raw=b'<html>401</html>', content_type='text/html')

    def post(self, url, params=None, data=None, headers=None, timeout=None, verify=None):
        step = url.rsplit('/', 1)[-1]
        self.calls.append(('POST', step, dict(data or {}), dict(headers or {})))
        if headers.get('Origin') != 'http://10.1.4.50' or headers.get('Referer') != 'http://10.1.4.50/':
            return FakeResponse(403, raw=b'<html>403</html>', content_type='text/html')
        if step == 'access':
            assert data == {'access': sha('admin')}
            self.nonce = 'n0nce%d' % len(self.calls)
            return envelope(self.nonce)
        if step == 'dologin':
            return self._dologin(data)
        if step == 'dologout':
            self.sid = None
            return envelope('logout')
        if data.get('sid') != self.sid or headers.get('Cookie') != 'sid=%s' % self.sid or self.sid is None:
            return FakeResponse(401, raw=b'<html>401 session</html>', content_type='text/html')
        self.served += 1
        if self.expire_after is not None and self.served > self.expire_after:
            self.sid, self.served = None, 0
            return FakeResponse(401, raw=b'<html>401 expired</html>', content_type='text/html')
        if step == 'api-get_accounts':
            return envelope([{'id': 1, 'sip_id': '1001', 'sip_server': 'pbx', 'name': 'a', 'reg': 1}])
        if step == 'api-get_phone_status':
            return envelope('available', misc='0')
        if step == 'api-sys_operation':
            return envelope('savereboot')
        return FakeResponse(404, raw=b'<html>404</html>', content_type='text/html')

    def _dologin(self, data):
        self.logins += 1
        if self.locked:
            return envelope('locked', response='error', lockTime=5)
        if self.wrong:
            return envelope(self.wrong, response='error')
        expected = PASSWORD if self.plain else sha(PASSWORD + self.nonce)
        assert data == {'username': 'admin', 'password': expected}
        self.sid = SID
        return envelope({'sid': SID, 'role': sha('admin' + SID), 'ver': '1.0.3.35', 'mac': '00:0B:82:12:34:56',
                         'defaultAuth': False, 'defaultLogin': False})

    def steps(self):
        return [call[1] for call in self.calls]


def client_for(phone, auth='session'):
    connection = CTIConnection('10.1.4.50', passcode=PASSWORD, name='wp0001', auth=auth)
    return CTIClient(connection, transport=phone)


def test_one_login_serves_every_call_of_the_client_and_close_logs_out():
    phone = FakeWebPhone()
    client = client_for(phone)
    assert client.get_accounts()[0]['registered'] is True
    assert client.get_phone_status()['status'] == 'available'
    client.close()
    assert phone.steps() == ['access', 'dologin', 'api-get_accounts', 'api-get_phone_status', 'dologout']
    assert phone.calls[2][2]['sid'] == SID and phone.calls[2][3]['Cookie'] == 'sid=%s' % SID
    assert phone.sid is None


def test_plain_login_of_older_firmware_has_no_access_step():
    phone = FakeWebPhone(plain=True)
    client = client_for(phone, auth='session_plain')
    client.get_accounts()
    assert phone.steps() == ['dologin', 'api-get_accounts']


def test_an_expired_session_is_logged_in_again_once():
    phone = FakeWebPhone(expire_after=1)
    client = client_for(phone)
    client.get_accounts()
    client.get_accounts()  # 401: expired -> one new login, then the call again
    assert phone.steps() == ['access', 'dologin', 'api-get_accounts', 'api-get_accounts', 'access', 'dologin',
                             'api-get_accounts']
    assert phone.logins == 2


def test_a_session_refused_right_after_the_login_fails_without_a_loop():
    phone = FakeWebPhone(expire_after=0)
    with pytest.raises(CTIError) as caught:
        client_for(phone).get_accounts()
    assert caught.value.error_class == 'auth_failed' and 'right after the login' in str(caught.value)
    assert phone.logins == 1


@pytest.mark.parametrize('body, words, left', [('wrong4', '4 attempts left before the phone locks', 4),
                                               ('wrong1', '1 attempt left', 1),
                                               ('wrong', 'did not say how many attempts are left', None)])
def test_a_wrong_password_is_auth_failed_once_with_the_attempts_left(body, words, left):
    phone = FakeWebPhone(wrong=body)
    client = client_for(phone)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'auth_failed' and words in str(caught.value)
    assert caught.value.details.get('attempts_left') == left
    assert phone.logins == 1, 'a login is never retried'
    assert PASSWORD not in str(caught.value)


def test_a_locked_phone_says_for_how_long():
    with pytest.raises(CTIError) as caught:
        client_for(FakeWebPhone(locked=True)).get_accounts()
    assert caught.value.error_class == 'locked' and caught.value.to_result()['lock_minutes'] == 5
    assert '5 more minutes' in str(caught.value)


def test_the_sid_never_shows_in_an_error():
    phone = FakeWebPhone()
    client = client_for(phone)
    client.get_accounts()
    with pytest.raises(CTIError) as caught:
        client.call('api-unknown')
    assert caught.value.status == 404
    phone.post = lambda *args, **kwargs: FakeResponse(500, raw=('oops sid=%s %s' % (SID, SID)).encode())
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert SID not in str(caught.value) and 'HTTP 500' in str(caught.value)


def test_device_facts_come_from_the_login_and_model_define_js():
    phone = FakeWebPhone()
    client = client_for(phone)
    assert client.get_model() == 'WP826'
    facts = client.login_facts()
    assert facts == {'ver': '1.0.3.35', 'mac': '00:0B:82:12:34:56', 'defaultAuth': False, 'defaultLogin': False}
    assert SID not in json.dumps(facts)
    assert phone.calls[0][0] == 'GET' and phone.calls[0][2] == {}, 'model.define.js needs no login and gets no secret'


def test_a_passcode_phone_tells_no_login_facts_and_a_missing_model_file_is_an_error():
    passcode_client = CTIClient(CTIConnection('10.1.4.50', passcode='x'), transport=FakeWebPhone(model_js=False))
    assert passcode_client.login_facts() is None
    with pytest.raises(CTIError) as caught:
        passcode_client.get_model()
    assert caught.value.status == 404 and 'older firmware' in str(caught.value)


def test_a_phone_without_the_session_login_says_which_dialect_to_use():
    class PasscodeOnly(FakeWebPhone):
        def post(self, url, params=None, data=None, headers=None, timeout=None, verify=None):
            return FakeResponse(404, raw=b'<html>404</html>', content_type='text/html')
    with pytest.raises(CTIError) as caught:
        client_for(PasscodeOnly()).get_accounts()
    assert 'grandstream_auth: passcode' in str(caught.value)


def test_read_device_tells_what_each_dialect_knows_and_why_the_rest_is_null():
    session_device = cti_tasks.read_device(client_for(FakeWebPhone()))
    assert session_device == {'model': 'WP826', 'firmware': '1.0.3.35', 'mac': '00:0B:82:12:34:56',
                              'default_password': False, 'auth': 'session', 'unknown_reason': {}}
    passcode_client = CTIClient(CTIConnection('10.1.4.50', passcode='x'), transport=FakeWebPhone(model_js=False))
    passcode_device = cti_tasks.read_device(passcode_client)
    assert passcode_device['model'] is None and passcode_device['firmware'] is None
    assert passcode_device['default_password'] is None and passcode_device['auth'] == 'passcode'
    assert sorted(passcode_device['unknown_reason']) == ['default_password', 'firmware', 'mac', 'model']
    assert 'passcode dialect does not report it' in passcode_device['unknown_reason']['firmware']
    assert 'older firmware' in passcode_device['unknown_reason']['model']


def test_read_device_fails_when_the_login_fails():
    with pytest.raises(CTIError) as caught:
        cti_tasks.read_device(client_for(FakeWebPhone(wrong='wrong3')))
    assert caught.value.error_class == 'auth_failed'
