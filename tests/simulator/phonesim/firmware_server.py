"""A small firmware server for tests and the demo: serves one directory over HTTP on a loopback address (GET and
HEAD), logs every request (path, User-Agent, client, status) so a test can assert what the phones fetched, and can
answer slowly. Standard library only (``http.server``, one thread per connection).

Python::

    from phonesim.firmware_server import FirmwareServer
    with FirmwareServer('/tmp/fw', host='127.0.0.1', port=0, latency=0.0) as server:
        server.host_path                   # '127.0.0.1:41234': what P192 wants (host/path, no scheme)
        server.url('grp2610fw.bin')        # 'http://127.0.0.1:41234/grp2610fw.bin'
        server.requests()                  # [{'t', 'method', 'path', 'user_agent', 'client', 'status', 'bytes'}]
        server.wait_for_request('/grp2610fw.bin', timeout=10)

Command line (``tests/simulator`` on PYTHONPATH)::

    python -m phonesim.firmware_server --dir /tmp/fw --host 127.0.0.1 --port 8081 --log requests.jsonl \\
        --image GRP2614=1.0.7.81 --image gxp1600=1.0.7.81
"""

import argparse
import http.server
import json
import os
import posixpath
import signal
import sys
import threading
import time
from urllib.parse import unquote, urlsplit

if __package__:
    from .firmware import write_firmware_image
    from .spec import check_loopback
else:  # python tests/simulator/phonesim/firmware_server.py: the package's own directory off the path, its parent on it
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or '.') != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))
    from phonesim.firmware import write_firmware_image  # pylint: disable=import-error
    from phonesim.spec import check_loopback  # pylint: disable=import-error


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = 'phonesim-firmware'
    protocol_version = 'HTTP/1.1'

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        self._serve(send_body=True)

    def do_HEAD(self):  # noqa: N802  pylint: disable=invalid-name
        self._serve(send_body=False)

    def _serve(self, send_body):
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        path = unquote(urlsplit(self.path).path)
        data = owner.read_file(path)
        status = 200 if data is not None else 404
        body = data if data is not None else b'not found\n'
        self.send_response(status)
        self.send_header('Content-Type', 'application/octet-stream' if data is not None else 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.end_headers()
        sent = 0
        if send_body:
            self.wfile.write(body)
            sent = len(body)
        self.close_connection = True
        owner.log(self.command, path, self.headers.get('User-Agent', ''), self.client_address[0], status, sent)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass  # the request log is the owner's; nothing on stderr


class FirmwareServer:
    """Serve ``directory`` on ``host:port`` (a loopback address; port 0 = ephemeral) until stop()."""

    def __init__(self, directory, host='127.0.0.1', port=0, latency=0.0, log_path=None):
        self.directory = os.path.abspath(os.fspath(directory))
        self.host = str(check_loopback(host, 'firmware server address'))
        self.port = int(port)
        self.latency = float(latency)
        self.log_path = os.fspath(log_path) if log_path else None
        self._requests = []
        self._cond = threading.Condition()
        self._httpd = None
        self._thread = None

    @property
    def host_path(self):
        """``host:port`` as the firmware server path P192 wants it (no scheme)."""
        return '%s:%d' % (self.host, self.port)

    def url(self, name=''):
        return 'http://%s/%s' % (self.host_path, name.lstrip('/'))

    def read_file(self, path):
        """The bytes of ``path`` under the directory, or None (missing, a directory, or outside it)."""
        relative = posixpath.normpath('/' + path).lstrip('/')
        full = os.path.join(self.directory, *relative.split('/')) if relative else self.directory
        if not full.startswith(self.directory + os.sep) or not os.path.isfile(full):
            return None
        with open(full, 'rb') as handle:
            return handle.read()

    def log(self, method, path, user_agent, client, status, sent):
        entry = {'t': time.monotonic(), 'method': method, 'path': path, 'user_agent': user_agent, 'client': client,
                 'status': status, 'bytes': sent}
        with self._cond:
            self._requests.append(entry)
            if self.log_path:
                with open(self.log_path, 'a', encoding='utf-8') as handle:
                    handle.write(json.dumps(entry) + '\n')
            self._cond.notify_all()

    def requests(self, path=None):
        """Copies of the logged requests (only those for ``path`` when given)."""
        with self._cond:
            return [dict(entry) for entry in self._requests if path is None or entry['path'] == path]

    def wait_for_request(self, path, timeout=10.0):
        """Block until a request for ``path`` was answered; returns its log entry or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((entry for entry in self._requests if entry['path'] == path), None)
                if found is not None:
                    return dict(found)
                if time.monotonic() >= deadline:
                    raise TimeoutError('no request for %s within %.1f s' % (path, timeout))
                self._cond.wait(deadline - time.monotonic())

    def start(self):
        self._httpd = http.server.ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name='phonesim-firmware', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(10)
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='phonesim.firmware_server', description='Serve simulated firmware images on a loopback address.')
    parser.add_argument('--dir', required=True, help='directory to serve (created if missing)')
    parser.add_argument('--host', default='127.0.0.1', help='loopback address to listen on (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=0, help='port (default 0: ephemeral, printed at start)')
    parser.add_argument('--latency', type=float, default=0.0, help='seconds before each answer')
    parser.add_argument('--log', help='append each request as a JSON line to this file')
    parser.add_argument('--image', action='append', default=[], metavar='MODEL_OR_BASE=VERSION',
                        help='write a simulated image first (GRP2614=1.0.7.81, gxp1600=1.0.7.81); repeatable')
    args = parser.parse_args(argv)
    try:
        os.makedirs(args.dir, exist_ok=True)
        for item in args.image:
            base, sep, version = item.partition('=')
            if not sep or not base or not version:
                raise ValueError('--image %r: expected MODEL_OR_BASE=VERSION' % item)
            write_firmware_image(args.dir, base, version)
        server = FirmwareServer(args.dir, args.host, args.port, args.latency, args.log).start()
    except (OSError, ValueError) as exc:
        print('phonesim.firmware_server: error: %s' % exc, file=sys.stderr)
        return 1
    print('phonesim.firmware_server: serving %s on http://%s/' % (server.directory, server.host_path), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
