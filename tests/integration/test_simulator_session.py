"""The simulator's web-session dialect (cti-api.md section 5) and device facts, over real HTTP on 127.0.0.0/8.

The simulator's other behaviour is tested in test_simulator.py; this file keeps that one under the size limit.
"""

import csv
import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tests' / 'simulator'))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim import Fleet, PhoneSpec  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.inventory import ini_value  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

FAST_REBOOT = {'save_delay': 0.2, 'down_time': 0.4, 'register_delay': 0.3}


def sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def client(phone=None, same_origin=True):
    """A requests.Session without proxies; with the phone's Referer and Origin unless same_origin is false."""
    session = requests.Session()
    session.trust_env = False
    if phone is not None and same_origin:
        session.headers.update(Referer=phone.origin + '/', Origin=phone.origin)
    return session


def get(url, **kwargs):
    with client() as session:
        return session.get(url, timeout=5.0, **kwargs)


def raw_http(phone, data):
    with socket.create_connection((phone.host, phone.port), timeout=5) as sock:
        sock.sendall(data)
        return sock.recv(65536)


def post(session, phone, path, timeout=5.0, **form):
    return session.post(phone.path_url(path), data=form, timeout=timeout)


def login(session, phone, password=None, username=None):
    """access + dologin of the session dialect; returns dologin's decoded answer."""
    username = phone.spec.username if username is None else username
    nonce = post(session, phone, '/cgi-bin/access', access=sha256(username)).json()['body']
    digest = sha256((phone.passcode if password is None else password) + nonce)
    return post(session, phone, '/cgi-bin/dologin', username=username, password=digest).json()


def events_text(fleet):
    return json.dumps(fleet.events())


# ---------------------------------------------------------------- login


def test_full_login_with_sha256_and_nonce(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'auth': 'session', 'model': 'WP826', 'firmware': 'new',
                                        'passcode': 'S3cret-pw', 'role': 'admin'}]})
    phone = fleet.phone('wp')
    with client(phone) as session:
        answer = post(session, phone, '/cgi-bin/access', access=sha256('admin'))
        assert answer.status_code == 200
        access = answer.json()
        assert access['response'] == 'success' and re.fullmatch(r'[A-Za-z0-9]{31}', access['body'])
        nonce = access['body']
        answer = post(session, phone, '/cgi-bin/dologin', username='admin', password=sha256('S3cret-pw' + nonce)).json()
        assert answer['response'] == 'success'
        body = answer['body']
        assert list(body) == ['sid', 'role', 'ver', 'mac', 'defaultAuth', 'defaultLogin']
        sid = body['sid']
        assert re.fullmatch(r'[0-9a-f]{64}', sid)
        assert body['role'] == sha256('admin' + sid) != sha256('user' + sid)
        assert body['ver'] == '1.0.3.35' and body['mac'] == '00:0B:82:00:00:01'
        assert body['defaultAuth'] is False and body['defaultLogin'] is False

        # The nonce is single use: the same digest again is a wrong password.
        again = post(session, phone, '/cgi-bin/dologin', username='admin', password=sha256('S3cret-pw' + nonce)).json()
        assert again == {'response': 'error', 'body': 'wrong4'}
        # A second access call gives another nonce.
        assert post(session, phone, '/cgi-bin/access', access=sha256('admin')).json()['body'] != nonce

    # The sid works as a cookie (GET), as a POST form field, and as a query parameter.
    with client() as session:
        answer = session.get(phone.url('get_accounts'), headers={'Cookie': 'sid=' + sid}, timeout=5)
        assert answer.status_code == 200 and answer.json()['body'][0]['reg'] == 1
        assert session.get(phone.url('get_phone_status', sid=sid), timeout=5).json()['body'] == 'available'
    with client(phone) as session:
        answer = post(session, phone, '/cgi-bin/api-get_line_status', sid=sid, line='1')
        assert answer.status_code == 200 and answer.json()['body'][0]['line'] == 1

    logins = fleet.events(phone='wp', event='login')
    assert [(event['result'], event['user']) for event in logins] == [('ok', 'admin'), ('wrong', 'admin')]
    request = fleet.events(phone='wp', event='request', function='api-get_line_status')[0]
    assert request['params'] == {'line': '1'} and request['auth'] == 'ok'
    text = events_text(fleet)
    for secret in ('S3cret-pw', nonce, sid, sha256('S3cret-pw' + nonce)):
        assert secret not in text


def test_plain_login(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'gxp', 'auth': 'session_plain', 'model': 'GXP1628', 'username': 'boss'}]})
    phone = fleet.phone('gxp')
    with client(phone) as session:
        # No access step: the plain password goes to dologin; a sha256 digest is a wrong password here.
        answer = post(session, phone, '/cgi-bin/dologin', username='boss', password=phone.passcode).json()
        assert answer['response'] == 'success' and answer['body']['ver'] == '1.0.7.81'
        assert session.get(phone.url('get_accounts'), headers={'Cookie': 'sid=' + answer['body']['sid']}, timeout=5).status_code == 200
        assert post(session, phone, '/cgi-bin/dologin', username='boss', password=sha256(phone.passcode)).json()['body'] == 'wrong4'
        assert post(session, phone, '/cgi-bin/dologin', username='admin', password=phone.passcode).json()['body'] == 'wrong3'
    # The helper tests use: a logged-in requests.Session.
    with phone.login_session() as session:
        assert session.get(phone.url('get_phone_status'), timeout=5).json()['body'] == 'available'
        assert session.login['mac'] == '00:0B:82:00:00:01'


def test_wrong_password_countdown_lock_and_expiry(sim_fleet):
    fleet = sim_fleet(spec={'defaults': {'auth': 'session'},
                            'phones': [{'name': 'p', 'lock_seconds': 1.0}, {'name': 'terse', 'wrong_attempts_left': False},
                                       {'name': 'reset', 'lock_minutes': 3}]})
    phone = fleet.phone('p')
    with client(phone) as session:
        assert [login(session, phone, password='bad')['body'] for dummy in range(4)] == ['wrong4', 'wrong3', 'wrong2', 'wrong1']
        assert login(session, phone, password='bad') == {'response': 'error', 'body': 'locked', 'lockTime': 1}
        assert phone.locked
        # Locked: every login, the right one included, until the lock expires.
        assert login(session, phone) == {'response': 'error', 'body': 'locked', 'lockTime': 1}
        assert len(fleet.events(phone='p', event='locked')) == 1
        time.sleep(1.05)
        assert login(session, phone)['response'] == 'success'
        assert not phone.locked
    results = [event['result'] for event in fleet.events(phone='p', event='login')]
    assert results == ['wrong'] * 4 + ['locked', 'locked', 'ok']
    assert [event['count'] for event in fleet.events(phone='p', event='auth_failed')] == [1, 2, 3, 4, 5]

    terse = fleet.phone('terse')
    with client(terse) as session:
        assert login(session, terse, password='bad') == {'response': 'error', 'body': 'wrong'}

    # A right login resets the count; the reported lockTime is in minutes.
    other = fleet.phone('reset')
    with client(other) as session:
        for dummy in range(3):
            login(session, other, password='bad')
        assert login(session, other)['response'] == 'success'
        assert [login(session, other, password='bad')['body'] for dummy in range(4)] == ['wrong4', 'wrong3', 'wrong2', 'wrong1']
        assert login(session, other, password='bad')['lockTime'] == 3


# ---------------------------------------------------------------- what the web server checks


def test_form_posts_need_same_origin_referer_and_origin(sim_fleet):
    phone = sim_fleet(count=1, auth='session').phones[0]
    wrong_port = '%s://%s:%d' % (phone.scheme, phone.host, phone.port + 1)
    cases = [{}, {'Referer': phone.origin + '/'}, {'Origin': phone.origin},
             {'Referer': wrong_port + '/', 'Origin': wrong_port}, {'Referer': 'http://evil.example/', 'Origin': phone.origin}]
    with client() as session:
        for headers in cases:
            for path, form in (('/cgi-bin/access', {'access': sha256('admin')}),
                               ('/cgi-bin/dologin', {'username': 'admin', 'password': 'x'}),
                               ('/cgi-bin/dologout', {}), ('/cgi-bin/api-get_accounts', {'sid': 'x'})):
                answer = session.post(phone.path_url(path), data=form, headers=headers, timeout=5)
                assert answer.status_code == 403, (path, headers)
                assert answer.text.lstrip().startswith('<!DOCTYPE html>') and '403' in answer.text
    # Refused before anything else is checked: no login attempt was counted.
    assert not phone.fleet.events(phone=phone.name, event=('auth_failed', 'login'))
    with phone.login_session() as session:
        # GET needs no Referer; a POST without Content-Length is 411, as on every phone.
        assert get(phone.url('get_accounts'), cookies={'sid': session.login['sid']}).status_code == 200
    raw = b'POST /cgi-bin/dologin HTTP/1.1\r\nHost: x\r\nReferer: %s/\r\nOrigin: %s\r\n\r\n' % (phone.origin.encode(), phone.origin.encode())
    assert raw_http(phone, raw).startswith(b'HTTP/1.1 411 ')
    # The login endpoints are forms: GET is not allowed.
    assert get(phone.path_url('/cgi-bin/dologin')).status_code == 405


def test_session_phone_ignores_passcode(sim_fleet):
    phone = sim_fleet(count=1, auth='session').phones[0]
    assert 'passcode' not in phone.url('get_accounts')
    with client() as session:
        for url in (phone.url('get_accounts', passcode=phone.passcode), phone.url('get_accounts')):
            answer = session.get(url, timeout=5)
            assert answer.status_code == 401 and 'text/html' in answer.headers['Content-Type']
        answer = session.get(phone.url('get_accounts'), cookies={'sid': '0' * 64}, timeout=5)
        assert answer.status_code == 401
    assert [event['auth'] for event in phone.fleet.events(phone=phone.name, event='request')] == ['no_session'] * 3
    # A session failure is not a login attempt: it never counts towards the lock.
    assert not phone.fleet.events(phone=phone.name, event='auth_failed') and not phone.locked
    body_style = sim_fleet(count=1, auth='session', auth_style='body').phones[0]
    assert get(body_style.url('get_accounts')).json() == {'response': 'error', 'body': 'unauthorized'}


def test_session_expires_when_idle(sim_fleet):
    phone = sim_fleet(count=1, auth='session', session_ttl=0.4).phones[0]
    with phone.login_session() as session:
        for dummy in range(3):  # use keeps it alive
            time.sleep(0.2)
            assert session.get(phone.url('get_phone_status'), timeout=5).status_code == 200
        time.sleep(0.6)
        answer = session.get(phone.url('get_phone_status'), timeout=5)
        assert answer.status_code == 401 and '<html>' in answer.text
    ended = phone.fleet.events(phone=phone.name, event='session_ended')
    assert [(event['cause'], event['user']) for event in ended] == [('expired', 'admin')]


def test_second_login_ends_the_first_when_single_session(sim_fleet):
    fleet = sim_fleet(spec={'defaults': {'auth': 'session'}, 'phones': [{'name': 'one'}, {'name': 'many', 'single_session': False}]})
    phone = fleet.phone('one')
    first, second = phone.login_session(), phone.login_session()
    with first, second:
        assert first.get(phone.url('get_accounts'), timeout=5).status_code == 401
        assert second.get(phone.url('get_accounts'), timeout=5).status_code == 200
    assert [event['cause'] for event in fleet.events(phone='one', event='session_ended')] == ['replaced']

    many = fleet.phone('many')
    first, second = many.login_session(), many.login_session()
    with first, second:
        assert first.get(many.url('get_accounts'), timeout=5).status_code == 200
        assert second.get(many.url('get_accounts'), timeout=5).status_code == 200
    assert not fleet.events(phone='many', event='session_ended')


def test_logout_ends_the_session(sim_fleet):
    phone = sim_fleet(count=1, auth='session').phones[0]
    with phone.login_session() as session:
        assert post(session, phone, '/cgi-bin/dologout').json() == {'response': 'success', 'body': 'logout'}
        assert session.get(phone.url('get_accounts'), timeout=5).status_code == 401
        assert post(session, phone, '/cgi-bin/dologout').json() == {'response': 'success', 'body': 'logout'}
    assert [event['user'] for event in phone.fleet.events(phone=phone.name, event='logout')] == ['admin']


def test_reboot_ends_sessions_and_reset_restores_the_default_password(sim_fleet):
    fleet = sim_fleet(spec={'defaults': dict(FAST_REBOOT, auth='session'),
                            'phones': [{'name': 'p', 'factory_passcode': 'sticker'}, {'name': 'fresh', 'default_password': True}]})
    phone = fleet.phone('p')
    session = phone.login_session()
    assert session.login['defaultAuth'] is False
    assert session.get(phone.url('sys_operation', request='REBOOT'), timeout=5).json()['body'] == 'savereboot'
    fleet.wait_for('up', phone='p', timeout=10)
    assert session.get(phone.url('get_accounts'), timeout=5).status_code == 401
    assert [event['cause'] for event in fleet.events(phone='p', event='session_ended')] == ['reboot']
    session = phone.login_session()
    assert session.get(phone.url('sys_operation', request='RESET'), timeout=5).json()['body'] == 'reset'
    fleet.wait_for('reset_done', phone='p', timeout=10)
    with pytest.raises(RuntimeError):
        phone.login_session(password='pw-p')
    with phone.login_session(password='sticker') as session:
        assert session.login['defaultAuth'] is True
    with fleet.phone('fresh').login_session() as session:
        assert session.login['defaultAuth'] is True


# ---------------------------------------------------------------- device facts and inventories


def test_model_define_js(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp'}, {'name': 'wp', 'auth': 'session', 'model': 'WP826', 'firmware': 'new'},
                                       {'name': 'none', 'model_js': False}]})
    with client() as session:
        answer = session.get(fleet.phone('grp').path_url('/json/configs/model.define.js'), timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {'model': 'GRP2614', 'defines': {'num_accounts': 2, 'num_lines': 3}}
        # No login needed on a session phone; newer firmware adds the oem and vendor fields.
        document = session.get(fleet.phone('wp').path_url('/json/configs/model.define.js'), timeout=5).json()
        assert document['model'] == 'WP826' and document['oem_id'] == '0' and document['vendor_name'] == 'Grandstream'
        assert document['defines']['num_accounts'] == 3
        assert session.get(fleet.phone('none').path_url('/json/configs/model.define.js'), timeout=5).status_code == 404
    # Logged in, it answers the same.
    with fleet.phone('wp').login_session() as session:
        assert session.get(fleet.phone('wp').path_url('/json/configs/model.define.js'), timeout=5).json() == document


def test_device_facts_and_passcode_phones_unchanged(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp'}, {'name': 'custom', 'auth': 'session', 'version': '1.0.7.79',
                                                         'mac': '00:0b:82:aa:bb:cc', 'role': 'user'}]})
    grp, custom = fleet.phone('grp'), fleet.phone('custom')
    assert (grp.version, grp.mac) == ('1.0.5.67', '00:0B:82:00:00:01')
    with custom.login_session() as session:
        body = session.login
        assert (body['ver'], body['mac']) == ('1.0.7.79', '00:0B:82:AA:BB:CC')
        assert body['role'] == sha256('user' + body['sid'])
    # A passcode phone's CTI still takes a POST without Referer; its web login (which settings need, cti-api.md
    # section 6) is a web form like any other: 403 without Origin and Referer, never counted as a wrong login.
    with client() as session:
        assert session.post(grp.path_url('/cgi-bin/dologin'), data={'username': 'admin', 'password': 'x'}, timeout=5).status_code == 403
        assert session.post(grp.url('get_accounts'), timeout=5).json()['response'] == 'success'
        assert session.get(grp.url('get_accounts', sid='0' * 64), timeout=5).json()['response'] == 'success'
    assert not fleet.events(phone='grp', event='auth_failed')
    # The web session does not replace the passcode for CTI on a passcode phone.
    with grp.login_session() as session:
        assert session.login['ver'] == '1.0.5.67'
        assert session.get(grp.url('get_accounts', passcode=None), timeout=5).status_code == 401
    for bad in ({'auth': 'cookie'}, {'role': 'root'}, {'mac': '00-0B-82-00-00-01'}, {'session_ttl': 0}, {'username': ''}):
        with pytest.raises(ValueError):
            PhoneSpec(name='x', **bad)


def test_inventories_carry_dialect_and_password(sim_fleet, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp'}, {'name': 'wp', 'auth': 'session', 'username': 'ops', 'model': 'WP826'},
                                       {'name': 'wp-badpw', 'auth': 'session', 'fault': 'wrong_passcode'}]})
    fleet.write_csv(tmp_path / 'phones.csv')
    with open(tmp_path / 'phones.csv', encoding='utf-8', newline='') as handle:
        rows = {row['name']: row for row in csv.DictReader(handle)}
    assert list(rows['grp']) == ['name', 'host', 'port', 'scheme', 'passcode', 'site', 'model', 'auth', 'username']
    assert (rows['grp']['auth'], rows['wp']['auth'], rows['wp']['username']) == ('passcode', 'session', 'ops')
    wp, bad = fleet.phone('wp'), fleet.phone('wp-badpw')
    with client(wp) as session:
        assert login(session, wp, password=rows['wp']['passcode'], username=rows['wp']['username'])['response'] == 'success'
    with client(bad) as session:  # the inventory's password is wrong; the phone keeps its real one
        assert login(session, bad, password=rows['wp-badpw']['passcode'])['body'] == 'wrong4'
        assert login(session, bad)['response'] == 'success'

    fleet.write_csv(tmp_path / 'facts.csv', columns=('name', 'model', 'version', 'mac', 'grandstream_auth', 'grandstream_username'))
    lines = (tmp_path / 'facts.csv').read_text(encoding='utf-8').splitlines()
    assert lines[2] == 'wp,WP826,1.0.3.35,00:0B:82:00:00:02,session,ops'
    # Passcode-only fleets keep the old default columns.
    only_passcode = Fleet(network=sim_fixtures.random_network(), port=1)
    only_passcode.add(name='a')
    only_passcode.write_csv(tmp_path / 'old.csv')
    assert (tmp_path / 'old.csv').read_text(encoding='utf-8').splitlines()[0] == 'name,host,port,scheme,passcode,site,model'

    fleet.write_ini(tmp_path / 'phones.ini')
    ini = {line.split()[0]: line for line in (tmp_path / 'phones.ini').read_text(encoding='utf-8').splitlines() if line[:2] in ('gr', 'wp')}
    assert 'grandstream_auth' not in ini['grp']
    assert ' grandstream_auth=%s grandstream_username=%s' % (ini_value('session'), ini_value('ops')) in ini['wp']


def test_cli_quick_form_with_session_phones(tmp_path):
    ready, out_csv = tmp_path / 'ready.json', tmp_path / 'fleet.csv'
    simulator = Path(__file__).resolve().parents[2] / 'tests' / 'simulator' / 'phonesim'
    proc = subprocess.Popen([sys.executable, str(simulator), '--phones', '2', '--auth', 'session', '--port', '0',
                             '--network', sim_fixtures.random_network(), '--csv', str(out_csv), '--ready-file', str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, 'simulator did not start'
            time.sleep(0.05)
        with open(out_csv, encoding='utf-8', newline='') as handle:
            row = next(csv.DictReader(handle))
        assert (row['auth'], row['username']) == ('session', 'admin')
        origin = 'http://%s:%s' % (row['host'], row['port'])
        with client() as session:
            session.headers.update(Referer=origin + '/', Origin=origin)
            nonce = session.post(origin + '/cgi-bin/access', data={'access': sha256('admin')}, timeout=5).json()['body']
            answer = session.post(origin + '/cgi-bin/dologin', data={'username': 'admin', 'password': sha256(row['passcode'] + nonce)},
                                  timeout=5).json()
            assert answer['response'] == 'success'
            accounts = session.get(origin + '/cgi-bin/api-get_accounts', cookies={'sid': answer['body']['sid']}, timeout=5)
            assert accounts.json()['body'][0]['reg'] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
