"""The simulator's HTTP connections over real sockets: keep-alive, the wedged answers (faults drip, drip_headers,
huge_body), and its open-file limit.

The simulator's other behaviour is tested in test_simulator.py; this file keeps that one under the size limit.
"""

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

SIMULATOR = Path(__file__).resolve().parents[2] / 'tests' / 'simulator'
sys.path.insert(0, str(SIMULATOR))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim import fleet as fleet_module  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.http_io import HUGE_PREFIX, HUGE_SUFFIX  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

STATUS_BODY = b'{"response":"success","body":"available","misc":"0"}'
MIB = 1024 * 1024


def request_bytes(phone, function='api-get_phone_status'):
    return ('GET /cgi-bin/%s?passcode=%s HTTP/1.1\r\nHost: %s\r\n\r\n' % (function, phone.passcode, phone.host)).encode()


def timed_read(phone, data, timeout=30.0):
    """Send ``data``; return (all bytes, [(seconds after sending, bytes so far)]) until the phone closes."""
    arrivals, received = [], b''
    with socket.create_connection((phone.host, phone.port), timeout=timeout) as sock:
        sock.sendall(data)
        started = time.monotonic()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received, arrivals
            received += chunk
            arrivals.append((time.monotonic() - started, len(received)))


def never_faster_than(arrivals, interval, offset=0):
    """Every arrival holds at most one byte per interval elapsed (plus the one sent at once, plus ``offset``)."""
    return all(count - offset <= seconds / interval + 2 for seconds, count in arrivals)


def test_drip_sends_head_at_once_then_one_body_byte_per_interval(sim_fleet):
    interval = 0.04
    phone = sim_fleet(count=1, fault='drip', drip_interval=interval).phones[0]
    received, arrivals = timed_read(phone, request_bytes(phone))
    head, dummy, body = received.partition(b'\r\n\r\n')
    head_length = len(head) + 4
    assert head.startswith(b'HTTP/1.1 200 ') and b'Content-Length: %d' % len(STATUS_BODY) in head
    assert body == STATUS_BODY
    # The whole head came in the first piece; then the body, never faster than a byte per interval.
    assert arrivals[0][1] >= head_length
    assert never_faster_than(arrivals, interval, offset=head_length)
    assert arrivals[-1][0] >= len(STATUS_BODY) * interval * 0.95
    event = phone.fleet.events(phone=phone.name, event='request')[-1]
    assert (event['status'], event['fault'], event['delivery']) == (200, 'drip', 'drip')

    # Why a client needs a deadline for the whole answer: a read timeout shorter than the answer never fires,
    # because a byte arrives well within every read.
    with requests.Session() as session:
        session.trust_env = False
        started = time.monotonic()
        answer = session.get(phone.url('get_phone_status'), timeout=0.5)
        assert answer.json()['body'] == 'available'
        assert time.monotonic() - started > 3 * 0.5

    # A client that gives up is noticed: the phone stops and logs how far it got.
    with socket.create_connection((phone.host, phone.port), timeout=5) as sock:
        sock.sendall(request_bytes(phone))
        assert sock.recv(65536).startswith(b'HTTP/1.1 200 ')
    cut = phone.fleet.wait_for('answer_cut', phone=phone.name, timeout=10)
    assert cut['fault'] == 'drip' and cut['sent'] < cut['total'] == head_length + len(STATUS_BODY)


def test_drip_headers_drips_the_status_line_too(sim_fleet):
    interval = 0.015
    phone = sim_fleet(count=1, fault=['drip_headers', 'wrong_shape'], drip_interval=interval).phones[0]
    received, arrivals = timed_read(phone, request_bytes(phone))
    head_length = received.index(b'\r\n\r\n') + 4
    assert received.startswith(b'HTTP/1.1 200 ') and received.endswith(b'\r\n\r\n{"foo":1}')
    assert never_faster_than(arrivals, interval)
    head_done = next(seconds for seconds, count in arrivals if count >= head_length)
    assert head_done >= (head_length - 1) * interval * 0.95
    assert arrivals[0][1] < head_length
    event = phone.fleet.events(phone=phone.name, event='request')[-1]
    assert (event['fault'], event['delivery']) == ('wrong_shape', 'drip_headers')


def test_a_client_that_half_closes_still_gets_the_answer(sim_fleet):
    """printf 'GET ...' | nc closes its sending side after the request; the answer must still come (dripped too)."""
    fleet = sim_fleet(spec={'phones': [{'name': 'plain'}, {'name': 'drip', 'fault': 'drip', 'drip_interval': 0.005}]})
    for phone in fleet.phones:
        with socket.create_connection((phone.host, phone.port), timeout=10) as sock:
            sock.sendall(request_bytes(phone))
            sock.shutdown(socket.SHUT_WR)
            received = b''
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert received.startswith(b'HTTP/1.1 200 ') and received.endswith(STATUS_BODY), phone.name
    assert not fleet.events(event='answer_cut')


def run_cli(tmp_path, *args):
    ready = tmp_path / 'ready.json'
    proc = subprocess.Popen([sys.executable, str(SIMULATOR / 'phonesim'), '--ready-file', str(ready)] + [str(arg) for arg in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError('simulator did not start: %s' % (proc.communicate()[1],))
        time.sleep(0.05)
    return proc, json.loads(ready.read_text(encoding='utf-8'))


def peak_rss_mb(pid):
    """VmHWM: the most resident memory the process ever had."""
    with open('/proc/%d/status' % pid, encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    raise AssertionError('no VmHWM for %d' % pid)


def test_huge_body_streams_100_mb_from_a_small_buffer(tmp_path):
    spec = tmp_path / 'spec.json'
    spec.write_text(json.dumps({'phones': [{'name': 'huge', 'fault': 'huge_body'}, {'name': 'ok'}]}), encoding='utf-8')
    proc, info = run_cli(tmp_path, '--spec', spec, '--network', sim_fixtures.random_network(), '--port', 0)
    try:
        huge, healthy = info['phones']
        before_mb = peak_rss_mb(proc.pid)
        with requests.Session() as session:
            session.trust_env = False
            url = 'http://%s:%d/cgi-bin/api-get_accounts?passcode=pw-huge' % (huge['host'], huge['port'])
            with session.get(url, stream=True, timeout=30) as answer:
                assert answer.status_code == 200 and int(answer.headers['Content-Length']) == 100 * MIB
                total, first, last = 0, None, b''
                for chunk in answer.iter_content(MIB):
                    first = chunk if first is None else first
                    total, last = total + len(chunk), chunk
            assert total == 100 * MIB
            assert first.startswith(HUGE_PREFIX + b'xxxx') and last.endswith(HUGE_SUFFIX)
            after_mb = peak_rss_mb(proc.pid)
            # Loose on purpose: holding the body would cost 100 MB; streaming costs a buffer or two.
            assert after_mb - before_mb < 30, (before_mb, after_mb)
            url = 'http://%s:%d/cgi-bin/api-get_accounts?passcode=pw-ok' % (healthy['host'], healthy['port'])
            assert session.get(url, timeout=5).json()['response'] == 'success'
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, stderr
    print('\nhuge_body: simulator peak RSS %.1f MB before, %.1f MB after serving 100 MiB' % (before_mb, after_mb))


def test_huge_body_stops_quietly_when_the_client_leaves(sim_fleet):
    phone = sim_fleet(count=1, fault='huge_body', huge_body_bytes=50 * MIB).phones[0]
    with socket.create_connection((phone.host, phone.port), timeout=5) as sock:
        sock.sendall(request_bytes(phone))
        received = b''
        while len(received) < MIB:
            received += sock.recv(65536)
    assert b'Content-Length: %d\r\n' % (50 * MIB) in received
    cut = phone.fleet.wait_for('answer_cut', phone=phone.name, timeout=10)
    assert cut['fault'] == 'huge_body' and MIB <= cut['sent'] < cut['total']
    assert phone.fleet.events(phone=phone.name, event='request')[-1]['fault'] == 'huge_body'
    phone.set_fault(None)
    received, dummy = timed_read(phone, request_bytes(phone))
    assert received.endswith(STATUS_BODY)


def test_open_file_limit_is_raised_or_the_count_refused(sim_fleet, monkeypatch):
    sim_fleet(count=2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY

    asked = []
    monkeypatch.setattr(fleet_module.resource, 'getrlimit', lambda which: (1024, 4096))
    monkeypatch.setattr(fleet_module.resource, 'setrlimit', lambda which, limits: asked.append(limits))
    assert fleet_module.raise_open_file_limit(1000) == 4096 and asked == [(4096, 4096)]
    with pytest.raises(ValueError) as info:
        fleet_module.raise_open_file_limit(10000)
    assert '10000 phones need about 10512 open files' in str(info.value) and 'hard limit is 4096' in str(info.value)


def test_cli_says_when_the_open_file_limit_is_too_low():
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

    env = dict(os.environ, PYTHONPATH=str(SIMULATOR))
    bad = subprocess.run([sys.executable, '-m', 'phonesim', '--phones', '200', '--network', sim_fixtures.random_network(),
                          '--port', '0'], capture_output=True, text=True, timeout=60, check=False, preexec_fn=low_limit, env=env)
    assert bad.returncode == 1
    assert 'phonesim: error: 200 phones need about 712 open files' in bad.stderr and 'Traceback' not in bad.stderr


def read_answer(sock):
    """One HTTP answer (head and Content-Length body) from a socket; the head as text and the body."""
    data = b''
    while b'\r\n\r\n' not in data:
        data += sock.recv(65536)
    head, body = data.split(b'\r\n\r\n', 1)
    length = int([line.split(b':')[1] for line in head.split(b'\r\n') if line.lower().startswith(b'content-length')][0])
    while len(body) < length:
        body += sock.recv(65536)
    return head.decode('latin-1'), body


def test_a_phone_keeps_the_connection_for_the_next_request_unless_told_not_to(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'alive'}, {'name': 'closing', 'keep_alive': False}]})
    alive, closing = fleet.phone('alive'), fleet.phone('closing')
    with socket.create_connection((alive.host, alive.port), timeout=5) as sock:
        for dummy in range(3):
            sock.sendall(request_bytes(alive))
            head, body = read_answer(sock)
            assert 'Connection: keep-alive' in head and body == STATUS_BODY
        sock.sendall(request_bytes(alive).replace(b'\r\n\r\n', b'\r\nConnection: close\r\n\r\n'))
        head, body = read_answer(sock)
        assert 'Connection: close' in head and sock.recv(1) == b'', 'closed after a Connection: close request'
    with socket.create_connection((closing.host, closing.port), timeout=5) as sock:
        sock.sendall(request_bytes(closing))
        head, body = read_answer(sock)
        assert 'Connection: close' in head and body == STATUS_BODY and sock.recv(1) == b''
    assert len(fleet.events(phone='alive', event='request')) == 4
