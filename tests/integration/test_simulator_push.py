"""The simulator's event pushes (Action URLs): GETs from each phone's own 127.x address to a loopback receiver.

The simulator's other behaviour is tested in test_simulator.py; this file keeps that one under the size limit.
"""

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

SIMULATOR = Path(__file__).resolve().parents[2] / 'tests' / 'simulator'
sys.path.insert(0, str(SIMULATOR))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim import Fleet, PhoneSpec  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.spec import PUSH_EVENTS  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

FAST_REBOOT = {'save_delay': 0.2, 'down_time': 0.4, 'register_delay': 0.3}


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records (sender address, path) of every GET; answers 200, or 404 under /missing."""

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        self.server.hits.append((self.client_address[0], self.path, self.headers.get('User-Agent')))
        status = 404 if self.path.startswith('/missing') else 200
        self.send_response(status)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def cti(phone, function, **params):
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(phone.url(function, **params), timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for_pushes(fleet, count, timeout=10.0):
    """The push and push_failed events once there are ``count`` of them (pushes are delivered in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        pushes = fleet.events(event=('push', 'push_failed'))
        if len(pushes) >= count or time.monotonic() > deadline:
            return pushes
        time.sleep(0.05)


def test_pushes_come_from_the_phone_address(sim_fleet, receiver):
    base = 'http://127.0.0.1:%d' % receiver.server_address[1]
    urls = {event: base + '/%s?mac=$mac&ip=$phone_ip&user=$active_user&local=$local&remote=$remote&keep=$unknown' % event
            for event in PUSH_EVENTS}
    fleet = sim_fleet(spec={'defaults': dict(FAST_REBOOT, action_urls=urls, call_answer_after=0.2),
                            'phones': [{'name': 'a'}, {'name': 'b', 'action_urls': {'reboot': None}, 'model': 'WP826'}]})
    a, b = fleet.phone('a'), fleet.phone('b')
    ip = a.host

    a.start_call(line=1, state='ringing', remotenumber='555')
    fleet.wait_for('push', phone='a', action='incoming_call', timeout=10)
    assert cti(a, 'phone_operation', cmd='acceptcall')['body'] is True
    assert cti(a, 'phone_operation', cmd='endcall')['body'] is True
    assert cti(a, 'make_call', phonenumber='2001')['body'] is True
    fleet.wait_for('call_state', phone='a', state='connected', cause='answered', timeout=10)
    assert a.end_calls() == 1
    a.set_registered(False)
    a.set_registered(True)
    assert cti(a, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    fleet.wait_for('registered', phone='a', cause='boot', timeout=10)
    assert cti(b, 'sys_operation', request='REBOOT')['body'] == 'savereboot'
    fleet.wait_for('registered', phone='b', cause='boot', timeout=10)
    expected_a = ['incoming_call', 'established_call', 'terminated_call', 'outgoing_call', 'established_call',
                  'terminated_call', 'unregistered', 'registered', 'reboot', 'setup_completed', 'registered']
    pushes = wait_for_pushes(fleet, len(expected_a) + 2)
    assert all(event['event'] == 'push' and event['status'] == 200 for event in pushes), pushes
    assert sorted(event['action'] for event in pushes if event['phone'] == 'a') == sorted(expected_a)
    # b turned the fleet's reboot push off, and kept the others.
    assert sorted(event['action'] for event in pushes if event['phone'] == 'b') == ['registered', 'setup_completed']

    by_path = {}
    for sender, path, agent in receiver.hits:
        by_path.setdefault(path.split('?')[0], []).append((sender, path, agent))
    mac = a.mac.replace(':', '').lower()
    assert mac == '000b82000001'
    assert ('/incoming_call?mac=%s&ip=%s&user=1001&local=1001&remote=555&keep=$unknown' % (mac, ip)) in [hit[1] for hit in by_path['/incoming_call']]
    assert ('/outgoing_call?mac=%s&ip=%s&user=1001&local=1001&remote=2001&keep=$unknown' % (mac, ip)) in [hit[1] for hit in by_path['/outgoing_call']]
    assert ('/unregistered?mac=%s&ip=%s&user=1001&local=&remote=&keep=$unknown' % (mac, ip)) in [hit[1] for hit in by_path['/unregistered']]
    # Every push left from the address of the phone it is about ($phone_ip in its URL).
    assert all(('&ip=%s&' % sender) in path for sender, path, agent in receiver.hits)
    senders = {sender for sender, path, agent in receiver.hits}
    assert senders == {a.host, b.host} and '127.0.0.1' not in senders
    assert {agent for sender, path, agent in receiver.hits if sender == b.host} == {'Grandstream WP826 1.0.3.35'}
    assert len(receiver.hits) == len(pushes)


def test_failed_pushes_are_events(sim_fleet, receiver):
    base = 'http://127.0.0.1:%d' % receiver.server_address[1]
    fleet = sim_fleet(spec={'phones': [{'name': 'p', 'action_urls': {'unregistered': 'http://127.0.0.1:%d/x' % closed_port(),
                                                                     'registered': base + '/missing/$mac'}}]})
    phone = fleet.phone('p')
    phone.set_registered(False)
    failed = fleet.wait_for('push_failed', phone='p', timeout=10)
    assert failed['action'] == 'unregistered' and 'refused' in failed['reason'].lower()
    phone.set_registered(True)
    answered = fleet.wait_for('push', phone='p', timeout=10)
    assert (answered['action'], answered['status']) == ('registered', 404)
    # The phone carries on as if nothing happened.
    assert cti(phone, 'get_phone_status')['body'] == 'available'


def test_action_urls_must_target_loopback():
    fleet = Fleet(network=sim_fixtures.random_network(), port=0)
    for urls, words in (({'registered': 'http://192.168.1.5/x'}, 'outside 127.0.0.0/8'),
                        ({'registered': 'http://pbx.example.net/x'}, 'not an IPv4 address'),
                        ({'registered': 'https://127.0.0.1/x'}, 'http://'),
                        ({'registered': 'http://$phone_ip/x'}, 'literal host'),
                        ({'boot': 'http://127.0.0.1/x'}, 'unknown event')):
        with pytest.raises(ValueError) as info:
            fleet.add(name='gs1', action_urls=urls)
        assert words in str(info.value) and 'gs1' in str(info.value)
    with pytest.raises(ValueError) as info:
        Fleet(defaults={'action_urls': {'reboot': 'http://10.1.2.3:8000/'}})
    assert 'defaults' in str(info.value)
    assert PhoneSpec(name='x', action_urls={'reboot': 'http://localhost:9/r'}).action_urls == {'reboot': 'http://localhost:9/r'}

    for option in ('registered=http://10.0.0.1/x', 'nonsense'):
        bad = subprocess.run([sys.executable, str(SIMULATOR / 'phonesim'), '--phones', '1', '--port', '0',
                              '--network', sim_fixtures.random_network(), '--action-url', option],
                             capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode == 1 and 'phonesim: error:' in bad.stderr and 'Traceback' not in bad.stderr
