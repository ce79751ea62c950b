"""Tests of the phone fleet simulator (the tests/simulator/phonesim package) over real HTTP on 127.0.0.0/8."""

import concurrent.futures
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SIMULATOR = REPO / 'tests' / 'simulator'
sys.path.insert(0, str(SIMULATOR))

import phonesim  # noqa: E402  pylint: disable=wrong-import-position
import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim import Fleet, PhoneSpec  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

FAST_REBOOT = {'save_delay': 0.2, 'down_time': 0.4, 'register_delay': 0.3}
DOC_LINE_KEYS = ['line', 'state', 'acct', 'remotename', 'remotenumber', 'active']
NEW_LINE_KEYS = ['state', 'line', 'acct', 'active', 'remotename', 'remotenumber', 'conf']


def http(method, url, timeout=5.0, **kwargs):
    """One request without proxies from the environment (the simulator lives on loopback only)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, timeout=timeout, **kwargs)


def get(phone, function, timeout=5.0, **params):
    return http('GET', phone.url(function, **params), timeout=timeout)


def cti(phone, function, **params):
    """A CTI call that must answer HTTP 200 JSON; returns the decoded object."""
    answer = get(phone, function, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def raw_http(phone, data, timeout=5.0):
    """One raw request; the client half-closes after it, so a kept-alive connection ends after the answer."""
    with socket.create_connection((phone.host, phone.port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)


def refused(phone):
    try:
        with socket.create_connection((phone.host, phone.port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def names(events):
    return [event['event'] for event in events]


# ---------------------------------------------------------------- functions


def test_get_accounts_doc_and_new(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'doc'}, {'name': 'new', 'firmware': 'new'}]})
    doc, new = fleet.phone('doc'), fleet.phone('new')

    answer = get(doc, 'api-get_accounts')
    assert answer.headers['Content-Type'] == 'application/json'
    body = answer.json()
    assert body['response'] == 'success'
    assert body['body'] == [
        {'id': 1, 'sip_server': 'pbx.example.net', 'sip_id': '1001', 'name': 'office', 'reg': 1},
        {'id': 2, 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0},
    ]
    assert list(body['body'][0]) == ['id', 'sip_server', 'sip_id', 'name', 'reg']

    answer = get(new, 'api-get_accounts')
    assert answer.headers['Content-Type'] == 'text/plain;charset=UTF-8'
    accounts = answer.json()['body']
    assert len(accounts) == 3
    assert accounts[0] == {'id': 1, 'sip_server': 'pbx.example.net', 'sip_id': '1002', 'name': 'office', 'reg': 1, 'auto_cfg': ''}
    assert all(account['auto_cfg'] == '' for account in accounts)

    # The same query string works with POST and an empty body (requests sends Content-Length: 0).
    answer = http('POST', doc.url('api-get_accounts'))
    assert answer.status_code == 200 and answer.json()['body'][0]['reg'] == 1


def test_accounts_from_spec(sim_fleet):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'two', 'accounts': [{'sip_id': '2001', 'name': 'front'}, {'sip_id': '2002', 'register': False}],
         'account_count': 4},
        {'name': 'unreg', 'fault': 'unregistered'},
    ]})
    accounts = cti(fleet.phone('two'), 'get_accounts')['body']
    assert [(acc['sip_id'], acc['reg']) for acc in accounts] == [('2001', 1), ('2002', 0), ('', 0), ('', 0)]
    assert accounts[0]['name'] == 'front' and accounts[1]['sip_server'] == 'pbx.example.net'
    assert fleet.phone('two').registered_accounts == [1]
    assert [acc['reg'] for acc in cti(fleet.phone('unreg'), 'get_accounts')['body']] == [0, 0]

    phone = fleet.phone('two')
    phone.set_registered(False)
    assert cti(phone, 'get_phone_status')['body'] == 'unavailable'
    phone.set_registered(True, account=2)
    assert phone.registered_accounts == [2]


def test_phone_status(sim_fleet):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'idle'},
        {'name': 'unreg', 'fault': 'unregistered'},
        {'name': 'ring', 'call': {'line': 2, 'state': 'ringing'}},
        {'name': 'talk', 'call': {'state': 'connected'}},
        {'name': 'hold', 'firmware': 'new', 'call': {'line': 4, 'state': 'onhold'}},
        {'name': 'weird', 'phone_status': 'weird'},
        {'name': 'oncall', 'phone_status': 'oncall'},
    ]})
    expected = {'idle': 'available', 'unreg': 'unavailable', 'ring': 'ringing', 'talk': 'busy', 'hold': 'busy',
                'weird': 'weird', 'oncall': 'oncall'}
    for name, status in expected.items():
        answer = cti(fleet.phone(name), 'api-get_phone_status')
        assert answer == {'response': 'success', 'body': status, 'misc': '0'}, name
        assert fleet.phone(name).phone_status() == status
    fleet.phone('idle').set_phone_status('oncall')
    assert cti(fleet.phone('idle'), 'get_phone_status')['body'] == 'oncall'
    fleet.phone('idle').set_phone_status(None)
    assert cti(fleet.phone('idle'), 'get_phone_status')['body'] == 'available'


def test_line_status_doc_and_new(sim_fleet):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'doc', 'call': {'line': 2, 'state': 'connected', 'remotenumber': '2001', 'remotename': 'Bob'}},
        {'name': 'new', 'firmware': 'new', 'call': {'line': 1, 'state': 'onhold', 'remotenumber': '3003'}},
    ]})
    lines = cti(fleet.phone('doc'), 'get_line_status', line=-1)['body']
    assert len(lines) == 3
    assert all(list(line) == DOC_LINE_KEYS for line in lines)
    assert lines[0] == {'line': 1, 'state': 'idle', 'acct': '', 'remotename': '', 'remotenumber': '', 'active': 0}
    assert lines[1] == {'line': 2, 'state': 'connected', 'acct': '1', 'remotename': 'Bob', 'remotenumber': '2001', 'active': 1}
    assert cti(fleet.phone('doc'), 'get_line_status', line=2)['body'] == [lines[1]]
    assert len(cti(fleet.phone('doc'), 'get_line_status')['body']) == 3

    answer = get(fleet.phone('new'), 'get_line_status', line=-1)
    assert answer.headers['Content-Type'] == 'text/plain;charset=UTF-8'
    lines = answer.json()['body']
    assert len(lines) == 4
    assert all(list(line) == NEW_LINE_KEYS for line in lines)
    assert lines[0] == {'state': 'onhold', 'line': 1, 'acct': 1, 'active': 1, 'remotename': '', 'remotenumber': '3003', 'conf': 0}
    assert lines[3]['acct'] == 0 and lines[3]['state'] == 'idle'


def test_phone_operation_call_states(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'p', 'call': {'line': 1, 'state': 'connected'}}]})
    phone = fleet.phone('p')
    ok, failed = {'response': 'success', 'body': True}, {'response': 'error', 'body': False}

    assert cti(phone, 'phone_operation', cmd='holdcall') == ok
    assert phone.lines[0]['state'] == 'onhold'
    assert cti(phone, 'phone_operation', cmd='holdcall') == failed
    assert cti(phone, 'phone_operation', cmd='unholdcall') == ok
    assert phone.lines[0]['state'] == 'connected'
    assert cti(phone, 'phone_operation', cmd='endcall') == ok
    assert phone.lines[0]['state'] == 'idle'
    assert cti(phone, 'phone_operation', cmd='endcall') == failed
    assert cti(phone, 'phone_operation', cmd='dance') == failed
    assert cti(phone, 'phone_operation') == failed

    phone.start_call(line=2, state='ringing', remotenumber='555')
    assert cti(phone, 'get_phone_status')['body'] == 'ringing'
    assert cti(phone, 'phone_operation', cmd='cancel') == failed
    assert cti(phone, 'phone_operation', cmd='acceptcall') == ok
    assert phone.lines[1]['state'] == 'connected' and phone.lines[1]['active'] == 1
    phone.start_call(line=1, state='ringing')
    assert cti(phone, 'phone_operation', cmd='rejectcall') == ok
    assert phone.lines[0]['state'] == 'idle' and phone.lines[1]['state'] == 'connected'
    phone.start_call(line=3, state='dialing')
    assert cti(phone, 'phone_operation', cmd='cancel') == ok
    assert phone.end_calls() == 1
    assert [line['state'] for line in phone.lines] == ['idle', 'idle', 'idle']
    assert cti(phone, 'get_phone_status')['body'] == 'available'

    causes = [event['cause'] for event in fleet.events(phone='p', event='call_ended')]
    assert causes == ['endcall', 'rejectcall', 'cancel', 'runtime']
    commands = fleet.events(phone='p', event='command')
    assert [event['params'].get('cmd') for event in commands][:3] == ['holdcall', 'holdcall', 'unholdcall']
    assert all(event['function'] == 'api-phone_operation' for event in commands)


def test_send_key(sim_fleet):
    fleet = sim_fleet(count=1, call_answer_after=0.2)
    phone = fleet.phones[0]
    complete, unknown = {'response': 'success', 'body': 'complete'}, {'response': 'error', 'body': 'unknown'}
    assert cti(phone, 'send_key', keys='VUP') == complete
    assert cti(phone, 'send_key', keys='MPK1:MPK48:LOCK:UNLOCK:#:POUND:STAR') == complete
    assert cti(phone, 'send_key', keys='MPK49') == unknown
    assert cti(phone, 'send_key', keys='1:FLASH') == unknown
    assert cti(phone, 'send_key', keys='') == unknown
    assert cti(phone, 'send_key') == unknown

    # OFFHOOK, digits, SEND place a call that is answered after call_answer_after.
    assert cti(phone, 'send_key', keys='OFFHOOK:2:0:0:1:SEND') == complete
    line = phone.lines[0]
    assert (line['state'], line['remotenumber']) == ('calling', '2001')
    fleet.wait_for('call_state', phone=phone.name, state='connected', timeout=10)
    assert phone.lines[0]['state'] == 'connected'
    assert cti(phone, 'send_key', keys='ONHOOK') == complete
    assert phone.lines[0]['state'] == 'idle'

    keys = [event['keys'] for event in fleet.events(phone=phone.name, event='keys')]
    assert keys[0] == ['VUP'] and ['OFFHOOK', '2', '0', '0', '1', 'SEND'] in keys
    assert ['MPK49'] not in keys


def test_make_call(sim_fleet):
    fleet = sim_fleet(spec={'defaults': {'call_answer_after': 0.2}, 'phones': [
        {'name': 'p'}, {'name': 'never', 'call_answer_after': None}, {'name': 'unreg', 'fault': 'unregistered'},
    ]})
    phone = fleet.phone('p')
    invalid = {'response': 'error', 'body': 'Invalid Request'}
    assert cti(phone, 'make_call', phonenumber='2001', account=0) == {'response': 'success', 'body': True}
    line = cti(phone, 'get_line_status')['body'][0]
    assert (line['state'], line['remotenumber'], line['acct'], line['active']) == ('calling', '2001', '1', 1)
    fleet.wait_for('call_state', phone='p', state='connected', cause='answered', timeout=10)
    assert cti(phone, 'get_line_status')['body'][0]['state'] == 'connected'
    assert cti(phone, 'get_phone_status')['body'] == 'busy'

    # A second call takes line 2; the first goes on hold.
    assert cti(phone, 'make_call', phonenumber='2002')['body'] is True
    assert [line['state'] for line in phone.lines][:2] == ['onhold', 'calling']

    assert cti(phone, 'make_call') == invalid
    assert cti(phone, 'make_call', phonenumber='2003', account=1) == invalid  # account 2 is not configured
    assert cti(phone, 'make_call', phonenumber='2003', account='x') == invalid
    assert cti(fleet.phone('unreg'), 'make_call', phonenumber='2001') == invalid

    never = fleet.phone('never')
    url = never.url('make_call', passcode=None, password=never.passcode, phonenumber='42')  # GXP style password=
    assert http('GET', url).json() == {'response': 'success', 'body': True}
    time.sleep(0.4)
    assert never.lines[0]['state'] == 'calling'
    started = fleet.events(phone='never', event='call_started')
    assert started[0]['origin'] == 'make_call' and started[0]['remotenumber'] == '42'


def test_sys_operation_unknown_request(sim_fleet):
    phone = sim_fleet(count=1).phones[0]
    assert cti(phone, 'sys_operation', request='SHUTDOWN') == {'response': 'error', 'body': 'unknown'}
    assert cti(phone, 'sys_operation') == {'response': 'error', 'body': 'unknown'}
    assert phone.reboot_count == 0 and phone.state == 'up'


# ---------------------------------------------------------------- HTTP layer, auth, lockout


def test_http_layer(sim_fleet):
    phone = sim_fleet(count=1).phones[0]
    head = raw_http(phone, b'POST %s HTTP/1.1\r\nHost: x\r\n\r\n' % phone.url('get_accounts').split(':%d' % phone.port)[1].encode())
    assert head.startswith(b'HTTP/1.1 411 ')
    answer = raw_http(phone, b'POST /cgi-bin/api-get_accounts?passcode=%s HTTP/1.1\r\nContent-Length: 0\r\n\r\n' % phone.passcode.encode())
    assert answer.startswith(b'HTTP/1.1 200 ') and b'Content-Length: ' in answer and b'"reg":1' in answer

    for url in (phone.url('api-frobnicate'), 'http://%s:%d/index.html' % (phone.host, phone.port),
                'http://%s:%d/cgi-bin/get_accounts' % (phone.host, phone.port)):
        answer = http('GET', url)
        assert answer.status_code == 404 and '<html>' in answer.text
    assert http('PUT', phone.url('get_accounts'), data=b'').status_code == 405
    assert raw_http(phone, b'nonsense\r\n\r\n').startswith(b'HTTP/1.1 400 ')
    # An unknown function is not an authentication attempt.
    assert not phone.locked and not fleet_events_of(phone, 'auth_failed')


def fleet_events_of(phone, event):
    return phone.fleet.events(phone=phone.name, event=event)


def test_auth_styles(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'http'}, {'name': 'body', 'auth_style': 'body'},
                                       {'name': 'fault', 'fault': 'unauthorized_body', 'firmware': 'new'}]})
    phone = fleet.phone('http')
    for answer in (get(phone, 'get_accounts', passcode='nope'), get(phone, 'get_accounts', passcode=None)):
        assert answer.status_code == 401
        assert 'text/html' in answer.headers['Content-Type'] and '401' in answer.text
    for name in ('body', 'fault'):
        answer = get(fleet.phone(name), 'get_phone_status', passcode='nope')
        assert answer.status_code == 200
        assert answer.json() == {'response': 'error', 'body': 'unauthorized'}
    assert get(fleet.phone('fault'), 'get_phone_status').json()['body'] == 'available'
    failed = fleet_events_of(phone, 'auth_failed')
    assert [event['reason'] for event in failed] == ['wrong', 'missing']
    requests_logged = fleet_events_of(phone, 'request')
    assert [(event['auth'], event['status']) for event in requests_logged] == [('wrong', 401), ('wrong', 401)]


def test_lockout_after_five_wrong_passcodes(sim_fleet):
    fleet = sim_fleet(count=2, lock_seconds=1.0)
    phone, other = fleet.phones
    for dummy in range(4):
        assert get(phone, 'get_accounts', passcode='bad').status_code == 401
    answer = get(phone, 'get_accounts', passcode='bad')
    assert answer.status_code == 200
    assert answer.json() == {'response': 'error', 'body': 'locked', 'lockTime': 1}
    assert phone.locked
    # Locked: even the right passcode and commands are refused.
    assert cti(phone, 'get_accounts') == {'response': 'error', 'body': 'locked', 'lockTime': 1}
    assert cti(phone, 'sys_operation', request='REBOOT')['body'] == 'locked'
    assert phone.reboot_count == 0
    assert [event['auth'] for event in fleet_events_of(phone, 'request')][-3:] == ['locked', 'locked', 'locked']
    assert len(fleet_events_of(phone, 'locked')) == 1
    time.sleep(1.05)
    assert cti(phone, 'get_accounts')['response'] == 'success'
    assert not phone.locked

    # A correct passcode resets the counter.
    for dummy in range(4):
        get(other, 'get_accounts', passcode='bad')
    assert cti(other, 'get_accounts')['response'] == 'success'
    for dummy in range(4):
        assert get(other, 'get_accounts', passcode='bad').status_code == 401
    assert not other.locked


def test_lock_time_in_minutes(sim_fleet):
    phone = sim_fleet(count=1, lock_minutes=3, lock_threshold=2).phones[0]
    assert get(phone, 'get_accounts', passcode='bad').status_code == 401
    assert get(phone, 'get_accounts', passcode='bad').json() == {'response': 'error', 'body': 'locked', 'lockTime': 3}


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize('fault,status,check', [
    ('http500', 500, lambda answer: '<html>' in answer.text),
    ('html', 200, lambda answer: answer.text.lstrip().startswith('<!DOCTYPE html>') and 'text/html' in answer.headers['Content-Type']),
    ('garbage', 200, lambda answer: answer.content == b'\x00not json{'),
    ('wrong_shape', 200, lambda answer: answer.json() == {'foo': 1}),
    ('wrong_shape_list', 200, lambda answer: isinstance(answer.json(), list)),
    ('wrong_body', 200, lambda answer: answer.json() == {'response': 'success', 'body': {'unexpected': True}}),
    ('forbidden_403', 403, lambda answer: '<html>' in answer.text),
    ('forbidden_body', 200, lambda answer: answer.json() == {'response': 'error', 'body': 'forbidden'}),
    ('not_found', 404, lambda answer: '<html>' in answer.text),
])
def test_response_faults(sim_fleet, fault, status, check):
    phone = sim_fleet(count=1, fault=fault).phones[0]
    for function in ('get_accounts', 'sys_operation'):
        answer = get(phone, function, request='REBOOT')
        assert answer.status_code == status
        assert check(answer)
    assert phone.reboot_count == 0
    assert fleet_events_of(phone, 'request')[-1]['fault'] == fault
    phone.set_fault(None)
    assert cti(phone, 'get_accounts')['response'] == 'success'


def test_connection_faults(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'down', 'fault': 'down'}, {'name': 'hang', 'fault': 'hang'},
                                       {'name': 'reset', 'fault': 'reset'}, {'name': 'ok'}]})
    down = fleet.phone('down')
    assert down.port and down.state == 'down' and refused(down)
    with pytest.raises(requests.ConnectionError):
        get(down, 'get_accounts')
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        get(fleet.phone('hang'), 'get_accounts', timeout=0.5)
    assert time.monotonic() - started < 2
    with pytest.raises(requests.ConnectionError) as info:
        get(fleet.phone('reset'), 'get_accounts')
    assert 'reset' in str(info.value).lower()
    assert fleet_events_of(fleet.phone('reset'), 'request')[0]['fault'] == 'reset'

    # Faults change at run time; the port stays the same.
    down.set_fault(None)
    assert down.state == 'up' and cti(down, 'get_accounts')['response'] == 'success'
    phone = fleet.phone('ok')
    phone.set_fault('down')
    assert refused(phone)
    phone.set_fault(['garbage'])
    assert get(phone, 'get_accounts').content == b'\x00not json{'
    phone.set_fault(None)
    assert cti(phone, 'get_accounts')['response'] == 'success'
    assert [event['fault'] for event in fleet_events_of(phone, 'fault_set')] == [['down'], ['garbage'], None]
    with pytest.raises(ValueError):
        phone.set_fault('on_fire')


def test_latency(sim_fleet):
    # The lower bound is exact (the answer waits the latency); "fast" only has to beat the latency it does not have,
    # 2 s, which a busy machine cannot blur.
    fleet = sim_fleet(spec={'defaults': {'latency': 2.0}, 'phones': [{'name': 'slow'}, {'name': 'fast', 'latency': 0.0}]})
    started = time.monotonic()
    cti(fleet.phone('slow'), 'get_accounts')
    assert time.monotonic() - started >= 2.0
    started = time.monotonic()
    cti(fleet.phone('fast'), 'get_accounts')
    assert time.monotonic() - started < 2.0
    fleet.phone('slow').set_latency(0)
    started = time.monotonic()
    cti(fleet.phone('slow'), 'get_accounts')
    assert time.monotonic() - started < 2.0


def test_latency_many_concurrent_requests(sim_fleet):
    """200 concurrent requests to 20 phones with 0.5 s latency each take about 0.5 s, not 100 s."""
    fleet = sim_fleet(count=20, latency=0.5)
    urls = [phone.url('get_phone_status') for phone in fleet.phones] * 10
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(lambda url: http('GET', url).status_code, urls))
    assert statuses == [200] * 200
    # One after the other they would take 100 s: a tenth of that proves they were answered concurrently.
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- reboot and reset


def test_reboot_cycle(sim_fleet):
    # A save delay of 1 s: the requests made "while it saves" must not lose a race with a busy machine.
    timing = dict(FAST_REBOOT, save_delay=1.0)
    fleet = sim_fleet(spec={'defaults': timing, 'phones': [{'name': 'p', 'call': {'state': 'connected'}}]})
    phone = fleet.phone('p')
    started = time.monotonic()
    assert cti(phone, 'sys_operation', request='REBOOT') == {'response': 'success', 'body': 'savereboot'}
    assert phone.state == 'rebooting' and phone.in_reboot
    # Still serving while it saves; a second REBOOT is answered and ignored.
    assert cti(phone, 'get_accounts')['body'][0]['reg'] == 1
    assert cti(phone, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    fleet.wait_for('down', phone='p', timeout=10)
    assert phone.state == 'down' and refused(phone)
    fleet.wait_for('up', phone='p', timeout=10)
    assert phone.state == 'up'
    assert cti(phone, 'get_phone_status')['body'] == 'unavailable'
    assert cti(phone, 'get_accounts')['body'][0]['reg'] == 0
    fleet.wait_for('registered', phone='p', timeout=10)
    assert cti(phone, 'get_phone_status')['body'] == 'available'  # the call was dropped
    assert not phone.in_reboot and phone.reboot_count == 1

    events = fleet.events(phone='p', event=('reboot', 'reboot_ignored', 'down', 'up', 'registered', 'call_ended'), since=started)
    assert names(events) == ['reboot', 'reboot_ignored', 'call_ended', 'down', 'up', 'registered']
    by_name = {event['event']: event for event in events}
    assert by_name['reboot']['request'] == 'REBOOT' and by_name['call_ended']['cause'] == 'reboot'
    assert by_name['registered']['accounts'] == [1]
    save = by_name['down']['t'] - by_name['reboot']['t']
    dark = by_name['up']['t'] - by_name['down']['t']
    register = by_name['registered']['t'] - by_name['up']['t']
    # The configured durations are lower bounds (timers never fire early); the upper bounds only catch a phase
    # that did not end when it should have, with seconds of room for a busy machine.
    assert 0.98 <= save < 1.0 + 3, save
    assert 0.38 <= dark < 0.4 + 3, dark
    assert 0.28 <= register < 0.3 + 3, register


def test_drop_on_reboot(sim_fleet):
    phone = sim_fleet(count=1, fault='drop_on_reboot', **FAST_REBOOT).phones[0]
    with pytest.raises(requests.ConnectionError):
        get(phone, 'sys_operation', request='REBOOT')
    phone.fleet.wait_for('registered', phone=phone.name, timeout=10)
    events = fleet_events_of(phone, ('reboot', 'down', 'up', 'registered'))
    assert names(events) == ['reboot', 'down', 'up', 'registered']
    assert events[0]['fault'] == ['drop_on_reboot']
    assert fleet_events_of(phone, 'request')[-1]['status'] is None


def test_never_back(sim_fleet):
    phone = sim_fleet(count=1, fault='never_back', **FAST_REBOOT).phones[0]
    assert cti(phone, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    phone.fleet.wait_for('down', phone=phone.name, timeout=10)
    time.sleep(FAST_REBOOT['down_time'] + 0.3)
    assert phone.state == 'down' and refused(phone)
    assert not fleet_events_of(phone, 'up')
    assert phone.power_on() is True
    phone.fleet.wait_for('registered', phone=phone.name, timeout=10)
    assert cti(phone, 'get_phone_status')['body'] == 'available'


def test_back_unregistered(sim_fleet):
    phone = sim_fleet(count=1, fault='back_unregistered', **FAST_REBOOT).phones[0]
    assert cti(phone, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    phone.fleet.wait_for('up', phone=phone.name, timeout=10)
    time.sleep(FAST_REBOOT['register_delay'] + 0.3)
    assert cti(phone, 'get_phone_status')['body'] == 'unavailable'
    assert phone.registered_accounts == [] and not fleet_events_of(phone, 'registered')


def test_no_down(sim_fleet):
    phone = sim_fleet(count=1, fault='no_down', **FAST_REBOOT).phones[0]
    assert cti(phone, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    time.sleep(sum(FAST_REBOOT.values()) + 0.2)
    assert not fleet_events_of(phone, ('down', 'up'))
    assert cti(phone, 'get_phone_status')['body'] == 'available'
    assert fleet_events_of(phone, 'reboot')[0]['fault'] == ['no_down']


def test_reset(sim_fleet):
    phones = [{'name': 'old', 'firmware': 'new'}, {'name': 'grp', 'factory_passcode': 'sticker-42'}]
    fleet = sim_fleet(spec={'defaults': FAST_REBOOT, 'phones': phones})
    phone = fleet.phone('old')
    original = phone.passcode
    assert cti(phone, 'sys_operation', request='RESET') == {'response': 'success', 'body': 'reset'}
    fleet.wait_for('reset_done', phone='old', timeout=10)
    assert get(phone, 'get_accounts', passcode=original).status_code == 401
    accounts = cti(phone, 'get_accounts', passcode='admin')['body']
    assert len(accounts) == 3 and all(acc['sip_id'] == '' and acc['reg'] == 0 for acc in accounts)
    time.sleep(FAST_REBOOT['register_delay'] + 0.2)
    assert cti(phone, 'get_phone_status', passcode='admin')['body'] == 'unavailable'
    assert names(fleet_events_of(phone, ('reboot', 'down', 'up', 'reset_done', 'registered'))) == ['reboot', 'down', 'up', 'reset_done']
    assert fleet_events_of(phone, 'reboot')[0]['request'] == 'RESET'

    grp = fleet.phone('grp')
    assert cti(grp, 'sys_operation', request='RESET')['body'] == 'reset'
    fleet.wait_for('up', phone='grp', timeout=10)
    assert get(grp, 'get_accounts', passcode='admin').status_code == 401
    assert cti(grp, 'get_accounts', passcode='sticker-42')['response'] == 'success'


# ---------------------------------------------------------------- calls, events, inventories


def test_calls_end_by_themselves(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'p', 'call': [{'line': 1, 'state': 'connected', 'ends_after': 0.3},
                                                              {'line': 2, 'state': 'onhold'}]}]})
    phone = fleet.phone('p')
    assert [line['state'] for line in phone.lines] == ['connected', 'onhold', 'idle']
    ended = fleet.wait_for('call_ended', phone='p', timeout=10)
    assert ended['line'] == 1 and ended['cause'] == 'ends_after'
    assert ended['t'] - fleet.t0 >= 0.28
    assert [line['state'] for line in phone.lines] == ['idle', 'onhold', 'idle']
    phone.start_call(line=3, state='connected', ends_after=0.2, remotenumber='777')
    assert cti(phone, 'get_line_status', line=3)['body'][0]['remotenumber'] == '777'
    fleet.wait_for('call_ended', phone='p', line=3, timeout=10)
    assert phone.end_calls() == 1
    assert cti(phone, 'get_phone_status')['body'] == 'available'


def test_event_log_never_contains_passcodes(sim_fleet, tmp_path):
    events_file = tmp_path / 'events.jsonl'
    fleet = sim_fleet(count=3, events_path=events_file, passcode='Sup3r-S3cret', **FAST_REBOOT)
    phone = fleet.phones[0]
    cti(phone, 'get_accounts')
    get(phone, 'get_accounts', passcode='Wr0ng-Guess')
    http('GET', phone.url('make_call', passcode=None, password='Sup3r-S3cret', phonenumber='1'))
    cti(phone, 'send_key', keys='1:2')
    cti(phone, 'sys_operation', request='RESET')
    fleet.wait_for('reset_done', phone=phone.name, timeout=10)
    cti(phone, 'get_accounts', passcode='admin')

    events = fleet.events()
    assert {'request', 'auth_failed', 'command', 'keys', 'reboot', 'down', 'up', 'reset_done'} <= set(names(events))
    for event in events:
        assert {'t', 'wall', 'phone', 'event'} <= set(event)
    text = json.dumps(events)
    for secret in ('Sup3r-S3cret', 'Wr0ng-Guess', 'admin'):
        assert secret not in text
    command = fleet.events(event='command', function='api-make_call')[0]
    assert command['params'] == {'phonenumber': '1'}

    lines = events_file.read_text(encoding='utf-8').splitlines()
    assert len(lines) >= len(events) - 1  # fleet_stopped comes later
    assert all(json.loads(line)['event'] for line in lines)
    for secret in ('Sup3r-S3cret', 'Wr0ng-Guess', 'admin'):
        assert secret not in events_file.read_text(encoding='utf-8')


def test_csv_and_ini_inventories(sim_fleet, tmp_path):
    fleet = sim_fleet(spec={'phones': [
        {'count': 3, 'name': 'gs{n:04d}', 'site': 'hq', 'model': 'GRP2614'},
        {'name': 'gs-badpw', 'fault': 'wrong_passcode', 'site': 'branch 2', 'passcode': '123'},
    ]})
    path = tmp_path / 'phones.csv'
    fleet.write_csv(path)
    with open(path, encoding='utf-8', newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ['name', 'host', 'port', 'scheme', 'passcode', 'site', 'model']
    assert [row['name'] for row in rows] == ['gs0001', 'gs0002', 'gs0003', 'gs-badpw']
    first = fleet.phone('gs0001')
    assert rows[0] == {'name': 'gs0001', 'host': first.host, 'port': str(first.port), 'scheme': 'http',
                       'passcode': 'pw-gs0001', 'site': 'hq', 'model': 'GRP2614'}
    bad = fleet.phone('gs-badpw')
    assert rows[3]['passcode'] != bad.passcode
    assert http('GET', bad.url('get_accounts', passcode=rows[3]['passcode'])).status_code == 401
    assert cti(bad, 'get_accounts')['response'] == 'success'

    fleet.write_csv(tmp_path / 'few.csv', columns=('host', 'name', 'firmware', 'mac'))
    assert (tmp_path / 'few.csv').read_text(encoding='utf-8').splitlines()[0] == 'host,name,firmware,mac'
    with pytest.raises(ValueError):
        fleet.write_csv(tmp_path / 'x.csv', columns=('name', 'colour'))

    ini = tmp_path / 'phones.ini'
    fleet.write_ini(ini)
    env = dict(os.environ, ANSIBLE_INVENTORY_ENABLED='ini', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    listing = subprocess.run([str(Path(sys.executable).parent / 'ansible-inventory'), '-i', str(ini), '--list'],
                             capture_output=True, text=True, check=True, env=env, timeout=120)
    inventory = json.loads(listing.stdout)
    hostvars = inventory['_meta']['hostvars']
    assert sorted(inventory['grandstream']['hosts']) == sorted(['gs0001', 'gs0002', 'gs0003', 'gs-badpw'])
    assert inventory['site_hq']['hosts'] == ['gs0001', 'gs0002', 'gs0003']
    assert inventory['site_branch_2']['hosts'] == ['gs-badpw']
    assert hostvars['gs0001']['ansible_host'] == first.host
    assert hostvars['gs0001']['grandstream_port'] == first.port
    assert hostvars['gs0001']['grandstream_passcode'] == 'pw-gs0001'
    assert hostvars['gs0001']['ansible_connection'] == 'local'
    assert hostvars['gs-badpw']['grandstream_passcode'] == rows[3]['passcode']
    assert hostvars['gs-badpw']['site'] == 'branch 2'


def test_csv_needs_started_fleet_for_port_zero(sim_fleet, tmp_path):
    fleet = sim_fleet(count=2, start=False)
    with pytest.raises(RuntimeError):
        fleet.write_csv(tmp_path / 'x.csv')


def test_spec_file_yaml(sim_fleet, tmp_path):
    spec = tmp_path / 'fleet.yml'
    spec.write_text(
        'network: 127.77.0.0\n'
        'port: 8080\n'
        'defaults: {firmware: doc, latency: 0.0, save_delay: 0.3, down_time: 1.0, register_delay: 0.5}\n'
        'phones:\n'
        '  - {count: 45, name: "gs{n:04d}", site: hq, model: GRP2614}\n'
        '  - {name: gs-busy, call: {line: 1, state: connected, ends_after: 10}}\n'
        '  - {name: gs-badpw, fault: wrong_passcode}\n', encoding='utf-8')
    fleet = sim_fleet(spec=str(spec))  # the fixture replaces network and port
    assert len(fleet) == 47 and fleet.phones[44].name == 'gs0045'
    assert not fleet.phones[0].host.startswith('127.77.') and fleet.phones[0].port != 8080
    assert fleet.phone('gs0045').spec.site == 'hq'
    assert cti(fleet.phone('gs-busy'), 'get_phone_status')['body'] == 'busy'
    assert 'wrong_passcode' in fleet.phone('gs-badpw').faults

    loaded = Fleet.from_spec(str(spec))
    assert str(loaded.network) == '127.77.0.0' and loaded.port == 8080 and len(loaded) == 47
    json_spec = tmp_path / 'fleet.json'
    json_spec.write_text(json.dumps({'phones': [{'name': 'a'}]}), encoding='utf-8')
    assert Fleet.from_spec(str(json_spec)).phones[0].name == 'a'
    with pytest.raises(ValueError):
        Fleet.from_spec({'phonez': []})
    with pytest.raises(TypeError):
        Fleet.from_spec({'phones': [{'name': 'a', 'colour': 'red'}]})


def test_addresses_and_validation():
    fleet = Fleet(network='127.201.0.0', port=0)
    phones = fleet.add_many(count=300)
    assert phones[0].host == '127.201.0.1' and phones[0].name == 'gs0001'
    assert phones[253].host == '127.201.0.254'
    assert phones[254].host == '127.201.1.1'
    assert len({phone.host for phone in phones}) == 300
    assert phones[7].spec.passcode == 'pw-gs0008'

    with pytest.raises(ValueError):
        Fleet(network='10.0.0.0')
    with pytest.raises(ValueError):
        Fleet(network='0.0.0.0')
    with pytest.raises(ValueError):
        PhoneSpec(name='x', host='192.168.1.10')
    with pytest.raises(ValueError):
        PhoneSpec(name='x', fault='on_fire')
    with pytest.raises(ValueError):
        PhoneSpec(name='x', firmware='v2')
    with pytest.raises(ValueError):
        fleet.add(name='gs0001')  # duplicate
    top = Fleet(network='127.255.255.250')
    top.add_many(count=4)
    with pytest.raises(ValueError):
        top.add(name='one-too-many')

    # Fleet defaults fill the fields a PhoneSpec leaves at the built-in default.
    fleet = Fleet(network='127.202.0.0', defaults={'latency': 0.5, 'firmware': 'new'})
    phone = fleet.add(PhoneSpec(name='a', firmware='doc', site='hq'))
    assert (phone.spec.latency, phone.spec.firmware, phone.spec.site) == (0.5, 'new', 'hq')
    with pytest.raises(ValueError):
        Fleet(defaults={'name': 'x'})


def test_context_manager_and_explicit_host():
    with Fleet(network='127.203.0.0', port=0) as fleet:
        assert fleet.running
        with pytest.raises(RuntimeError):  # no adding after start
            fleet.add(name='late')
    fleet = Fleet(network='127.204.0.0', port=0)
    explicit = fleet.add(name='fixed', host='127.204.0.1')
    other = fleet.add(name='auto')
    assert explicit.host == '127.204.0.1' and other.host == '127.204.0.2'
    with fleet:
        assert cti(explicit, 'get_accounts')['response'] == 'success'
        assert cti(other, 'get_accounts')['response'] == 'success'
    assert refused(explicit)


# ---------------------------------------------------------------- CLI and scale


def run_cli(tmp_path, *args):
    ready = tmp_path / 'ready.json'
    proc = subprocess.Popen([sys.executable, str(SIMULATOR / 'phonesim'), '--ready-file', str(ready)] + [str(arg) for arg in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError('simulator did not start: %s' % (proc.communicate()[1],))
        time.sleep(0.05)
    return proc, ready


def test_cli_quick_form(tmp_path):
    network = sim_fixtures.random_network()
    out_csv, events = tmp_path / 'fleet.csv', tmp_path / 'events.jsonl'
    proc, ready = run_cli(tmp_path, '--phones', 5, '--network', network, '--port', 0, '--csv', out_csv, '--events', events)
    try:
        info = json.loads(ready.read_text(encoding='utf-8'))
        assert info['count'] == 5 and info['pid'] == proc.pid
        assert [phone['name'] for phone in info['phones']] == ['gs0001', 'gs0002', 'gs0003', 'gs0004', 'gs0005']
        with open(out_csv, encoding='utf-8', newline='') as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 5 and rows[0]['host'] == info['phones'][0]['host']
        url = 'http://%s:%s/cgi-bin/api-get_accounts?passcode=%s' % (rows[0]['host'], rows[0]['port'], rows[0]['passcode'])
        assert http('GET', url).json()['body'][0]['reg'] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert stdout.count('\n') == 1 and 'phonesim: 5 phones listening' in stdout
    assert not ready.exists()
    logged = [json.loads(line) for line in events.read_text(encoding='utf-8').splitlines()]
    assert [event['event'] for event in logged][0] == 'fleet_started' and logged[-1]['event'] == 'fleet_stopped'
    assert any(event['event'] == 'request' and event['status'] == 200 for event in logged)
    assert rows[0]['passcode'] not in events.read_text(encoding='utf-8')


def test_cli_spec_with_ini(tmp_path):
    spec = tmp_path / 'spec.yml'
    spec.write_text('phones:\n  - {count: 2, name: "p{n}", firmware: new}\n  - {name: dead, fault: down}\n', encoding='utf-8')
    ini, out_csv = tmp_path / 'fleet.ini', tmp_path / 'fleet.csv'
    proc, ready = run_cli(tmp_path, '--spec', spec, '--network', sim_fixtures.random_network(), '--port', 0,
                          '--csv', out_csv, '--ini', ini)
    try:
        info = json.loads(ready.read_text(encoding='utf-8'))
        assert [phone['name'] for phone in info['phones']] == ['p1', 'p2', 'dead']
        assert 'ansible_connection=local' in ini.read_text(encoding='utf-8')
        first = info['phones'][0]
        answer = http('GET', 'http://%s:%s/cgi-bin/api-get_phone_status?passcode=pw-p1' % (first['host'], first['port']))
        assert answer.headers['Content-Type'] == 'text/plain;charset=UTF-8'
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
    bad = subprocess.run([sys.executable, str(SIMULATOR / 'phonesim'), '--phones', '1', '--network', '10.1.0.0'],
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 1 and '127.0.0.0/8' in bad.stderr


def test_scale_1000_phones(sim_fleet):
    started = time.monotonic()
    fleet = sim_fleet(count=1000)
    start_seconds = time.monotonic() - started
    assert len({(phone.host, phone.port) for phone in fleet.phones}) == 1000

    def fetch(phone):
        answer = http('GET', phone.url('get_accounts'), timeout=10)
        return answer.status_code, answer.json()['body'][0]['reg']

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(fetch, fleet.phones))
    request_seconds = time.monotonic() - started
    assert results == [(200, 1)] * 1000
    assert len(fleet.events(event='request', status=200)) == 1000
    print('\nscale: 1000 phones started in %.2f s; 1000 get_accounts (50 threads) in %.2f s' % (start_seconds, request_seconds))
    assert start_seconds + request_seconds < 15


def test_module_exports():
    assert set(phonesim.__all__) >= {'Fleet', 'PhoneSpec', 'Phone', 'FAULTS'}
    assert {'down', 'hang', 'reset', 'http500', 'html', 'garbage', 'wrong_shape', 'forbidden_403', 'forbidden_body',
            'unauthorized_body', 'not_found', 'never_back', 'back_unregistered', 'no_down', 'drop_on_reboot',
            'unregistered', 'wrong_passcode', 'drip', 'drip_headers', 'huge_body'} <= phonesim.FAULTS
