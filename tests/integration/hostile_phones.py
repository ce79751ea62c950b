"""Hostile phones: small HTTP servers on loopback addresses that answer whatever an attacker would.

Each :class:`HostilePhone` listens on its own 127.x.y.z address and answers every request with ``answer(request)``:
raw bytes (a whole HTTP response, status line included), or None to reset the connection after reading the request.
It records each request (method, path, query, whether it carried a credential) so a test can count what was sent.
Loopback only: the address is checked, and nothing is ever sent anywhere else.
"""

import ipaddress
import json
import socket
import threading
from urllib.parse import parse_qs, urlsplit

LOOPBACK = ipaddress.IPv4Network('127.0.0.0/8')


def http_response(status, body, content_type='text/plain;charset=UTF-8', reason='OK', extra_headers=b''):
    if isinstance(body, str):
        body = body.encode('utf-8', 'surrogatepass')
    head = ('HTTP/1.1 %d %s\r\n' % (status, reason)).encode('ascii')
    head += b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n'
    head += extra_headers
    head += ('Content-Length: %d\r\nConnection: close\r\n\r\n' % len(body)).encode('ascii')
    return head + body


def cti_json(value, status=200, content_type='text/plain;charset=UTF-8'):
    """A CTI answer whose JSON text is ``value`` (str: sent as it is; anything else: json.dumps)."""
    return http_response(status, value if isinstance(value, str) else json.dumps(value), content_type)


class HostilePhone(object):
    def __init__(self, host, answer, name=None):
        if ipaddress.IPv4Address(host) not in LOOPBACK:
            raise ValueError('%s is not a loopback address' % host)
        self.host = host
        self.name = name or host
        self.answer = answer
        self.requests = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(64)
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stopped:
            try:
                conn, dummy = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        conn.settimeout(5)
        try:
            data = b''
            while b'\r\n\r\n' not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, dummy, rest = data.partition(b'\r\n\r\n')
            lines = head.decode('latin-1').split('\r\n')
            method, target = lines[0].split(' ')[:2]
            length = 0
            for line in lines[1:]:
                if line.lower().startswith('content-length:'):
                    length = int(line.split(':', 1)[1])
            while len(rest) < length:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                rest += chunk
            parts = urlsplit(target)
            query = dict((key, values[0]) for key, values in parse_qs(parts.query).items())
            form = dict((key, values[0]) for key, values in parse_qs(rest.decode('latin-1')).items())
            request = {'method': method, 'path': parts.path, 'query': query, 'form': form,
                       'credential': 'passcode' in query or 'password' in form}
            self.requests.append(request)
            response = self.answer(request)
            if response is None:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                return  # closed with a reset, after the request arrived
            conn.sendall(response)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def credentials_sent(self):
        return [request for request in self.requests if request['credential']]

    def stop(self):
        self._stopped = True
        self._sock.close()
