# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CTI transport against tiny servers on 127.0.0.1: the total deadline, the body cap, keep-alive, no proxy.

Each server is a thread that answers its connections with a scripted byte stream.
"""

import socket
import threading
import time

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_http import ExchangeFailed, HTTPTransport

OK = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'


class Server(object):
    """Accepts connections on 127.0.0.1 and plays ``script(conn)`` on each; counts connections and requests."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._play, args=(conn,), daemon=True).start()

    def _play(self, conn):
        try:
            self.script(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn):
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        self.requests.append(data)
        return data

    def url(self, path='/cgi-bin/api-get_accounts'):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def server():
    servers = []

    def make(script):
        servers.append(Server(script))
        return servers[-1]
    yield make
    for item in servers:
        item.close()


def drip(server, conn):
    server.read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n')
    for dummy in range(100):
        conn.sendall(b'x')
        time.sleep(0.2)


def drip_headers(server, conn):
    server.read_request(conn)
    for byte in b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n':
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def huge(server, conn):
    server.read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
    piece = b'y' * 65536
    for dummy in range(2000):  # 128 MiB, if anyone read it
        conn.sendall(b'%x\r\n%s\r\n' % (len(piece), piece))


def keep_alive(server, conn):
    while server.read_request(conn):
        conn.sendall(OK)


@pytest.mark.parametrize('script, answered', [(drip, True), (drip_headers, False)])
def test_the_whole_exchange_ends_at_its_deadline(server, script, answered):
    phone = server(script)
    started = time.monotonic()
    with pytest.raises(ExchangeFailed) as caught:
        HTTPTransport().exchange('GET', phone.url(), 1.0)
    elapsed = time.monotonic() - started
    assert caught.value.too_slow and caught.value.answered is answered
    assert 0.9 <= elapsed < 5, 'bounded by the deadline (%.2f s), not by the phone (20 s)' % elapsed


def test_a_body_over_the_cap_is_read_no_further(server):
    phone = server(huge)
    started = time.monotonic()
    with pytest.raises(ExchangeFailed) as caught:
        HTTPTransport().exchange('GET', phone.url(), 10.0, max_body=1024 * 1024)
    assert caught.value.too_big and time.monotonic() - started < 5


def test_an_announced_length_over_the_cap_is_refused_unread(server):
    def announce(server, conn):
        server.read_request(conn)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n')
        time.sleep(2)
    phone = server(announce)
    with pytest.raises(ExchangeFailed) as caught:
        HTTPTransport().exchange('GET', phone.url(), 10.0)
    assert caught.value.too_big


def test_one_connection_serves_the_exchanges_of_a_phone_and_a_closed_one_is_replaced(server):
    phone = server(keep_alive)
    transport = HTTPTransport()
    for dummy in range(3):
        answer = transport.exchange('GET', phone.url(), 5.0, params={'passcode': 'pw'})
        assert (answer.status, answer.body) == (200, b'ok')
    assert phone.connections == 1 and len(phone.requests) == 3
    assert phone.requests[0].startswith(b'GET /cgi-bin/api-get_accounts?passcode=pw HTTP/1.1')
    transport._conn.sock.shutdown(socket.SHUT_RDWR)  # pylint: disable=protected-access
    assert transport.exchange('GET', phone.url(), 5.0).status == 200
    assert phone.connections == 2
    transport.close()


def test_a_form_post_carries_its_length_and_type(server):
    phone = server(keep_alive)
    HTTPTransport().exchange('POST', phone.url('/cgi-bin/dologin'), 5.0, data={'username': 'admin', 'password': 'a&b'},
                             headers={'Origin': 'http://127.0.0.1'})
    request = phone.requests[0]
    assert request.startswith(b'POST /cgi-bin/dologin HTTP/1.1')
    assert b'Content-Type: application/x-www-form-urlencoded' in request and b'Origin: http://127.0.0.1' in request


def test_a_closed_port_is_refused_and_nothing_was_sent():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ExchangeFailed) as caught:
        HTTPTransport().exchange('GET', 'http://127.0.0.1:%d/cgi-bin/api-get_accounts' % port, 2.0)
    assert caught.value.sent is False and isinstance(caught.value.cause, ConnectionRefusedError)


def test_an_environment_proxy_is_never_used(server, monkeypatch):
    # The passcode travels in the query string: a proxy from the environment would get it.
    for variable in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.setenv(variable, 'http://127.0.0.1:9')  # the discard port: a proxy that never answers
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    phone = server(keep_alive)
    assert HTTPTransport().exchange('GET', phone.url(), 5.0).status == 200
    assert phone.connections == 1
