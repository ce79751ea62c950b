# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP exchange with a phone, bounded in time and size: the transport under the CTI client (cti.py).

Python's own ``http.client``, one kept-alive connection per phone.  It costs a quarter of the CPU of the
``requests`` stack per request (0.25 ms against 0.75 ms, measured on the simulator: what decides an audit of
10,000 phones), needs nothing installed on a jump host, and hands over the socket, which a total deadline needs:

- a total deadline (connect + headers + body <= ``timeout``): a socket timeout bounds each read, not a request,
  so a phone that sends its headers and then one byte a second (a wedged web server, a Wi-Fi handset in power
  save) would hold a task for ever.  One watchdog thread per process shuts down the socket of an exchange whose
  deadline passed, which ends any read blocked on it;
- a body cap (``max_body``, 1 MiB by default: no CTI answer comes near it): a bigger answer is read no further.

Never an HTTP proxy from the environment: phones sit on the voice LAN, and a proxy would also get the
passcode of the query string.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import heapq
import http.client
import itertools
import json
import os
import select
import socket
import ssl
import threading
import time

try:
    from urllib.parse import urlencode, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, keep the import error readable
    urlencode = urlsplit = None

MAX_BODY = 1024 * 1024
CHUNK = 64 * 1024
USER_AGENT = 'phonefleet.grandstream'


class Answer(object):
    """What a phone answered: ``status`` (int), ``content_type`` (str), ``body`` (bytes, at most max_body)."""

    __slots__ = ('status', 'content_type', 'body')

    def __init__(self, status, content_type, body):
        self.status = status
        self.content_type = content_type or ''
        self.body = body


class ExchangeFailed(Exception):
    """The exchange did not complete.  ``cause``: the exception underneath (None for ``too_big``);
    ``too_slow``: the total deadline passed; ``answered``: the phone's status line and headers had arrived;
    ``too_big``: the body went past max_body; ``sent``: the request may have reached the phone."""

    def __init__(self, cause=None, too_slow=False, answered=False, too_big=False, sent=True):
        super(ExchangeFailed, self).__init__(str(cause) if cause is not None else 'exchange failed')
        self.cause = cause
        self.too_slow = too_slow
        self.answered = answered
        self.too_big = too_big
        self.sent = sent


# -- the watchdog --------------------------------------------------------------------------------

class _Deadline(object):
    """The deadline of one exchange, and the socket it guards once there is one."""

    __slots__ = ('when', 'sock', 'fired', 'done')

    def __init__(self, when):
        self.when = when
        self.sock = None
        self.fired = False
        self.done = False

    def fire(self):
        self.fired = True
        sock = self.sock
        if sock is not None:
            try:
                # The base class's shutdown, also for a TLS socket: ssl.SSLSocket.shutdown would drop the TLS object
                # under the reading thread's feet; a plain shutdown makes its read return end-of-file.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass


class _Watchdog(object):
    """One thread per process that ends the exchanges whose deadline passed (started on first use)."""

    def __init__(self):
        self._reset()

    def _reset(self):
        self._cond = threading.Condition()
        self._heap = []
        self._order = itertools.count()
        self._thread = None

    def guard(self, deadline, sock):
        """Shut ``sock`` down when ``deadline`` passes, unless the exchange is done by then."""
        deadline.sock = sock
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='cti-deadlines')
                self._thread.daemon = True
                self._thread.start()
            # Wake the thread only for a deadline earlier than the one it waits for (deadlines mostly come in order).
            if not self._heap or deadline.when < self._heap[0][0]:
                self._cond.notify()
            heapq.heappush(self._heap, (deadline.when, next(self._order), deadline))
        if time.monotonic() >= deadline.when:
            deadline.fire()

    def _run(self):
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, dummy, deadline = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if not deadline.done:
                deadline.fire()


_WATCHDOG = _Watchdog()
if hasattr(os, 'register_at_fork'):
    # Ansible forks a worker per task and host: the child starts with no watchdog thread and a fresh lock.
    os.register_at_fork(after_in_child=_WATCHDOG._reset)  # pylint: disable=protected-access


# -- TLS -----------------------------------------------------------------------------------------

_CONTEXTS = {}
_CONTEXTS_LOCK = threading.Lock()


def tls_context(verify):
    """The TLS context for ``verify`` (True: the system's CAs; False: no verification; a path: that CA file), made once:
    loading the system's CAs costs milliseconds, a thousand times over in a fleet."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(verify)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                context = ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            _CONTEXTS[verify] = context
        return context


# -- one phone's connection ----------------------------------------------------------------------

class HTTPTransport(object):
    """The HTTP connection to one phone, kept alive between its exchanges.  Not thread-safe (one per phone and thread)."""

    def __init__(self):
        self._conn = None
        self._key = None

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def exchange(self, method, url, timeout, verify=True, params=None, data=None, headers=None, max_body=MAX_BODY,
                 json_body=None):
        """Send one request and read the whole answer within ``timeout`` seconds and ``max_body`` bytes.

        ``data``: a form (urlencoded); ``json_body``: a value sent as JSON (``config_update``).
        Returns an :class:`Answer`; raises :class:`ExchangeFailed`.  Nothing is retried here.
        """
        deadline = _Deadline(time.monotonic() + timeout)
        parts = urlsplit(url)
        target = parts.path + ('?' + urlencode(params) if params else '')
        all_headers = {'User-Agent': USER_AGENT, 'Accept': '*/*'}
        body = None
        if json_body is not None:
            body = json.dumps(json_body, separators=(',', ':')).encode('utf-8')
            all_headers['Content-Type'] = 'application/json'
        elif data is not None:
            body = urlencode(data).encode('ascii')
            all_headers['Content-Type'] = 'application/x-www-form-urlencoded'
        all_headers.update(headers or {})
        answered = False
        try:
            conn = self._connect(parts, timeout, verify, deadline)
            try:
                conn.request(method, target, body=body, headers=all_headers)
                response = conn.getresponse()
                answered = True
                content = _read_body(response, max_body)
            except ExchangeFailed:
                self.close()
                raise
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.close()
                raise ExchangeFailed(exc, too_slow=deadline.fired or isinstance(exc, socket.timeout), answered=answered)
            if deadline.fired:
                self.close()
                raise ExchangeFailed(None, too_slow=True, answered=True)
            if response.will_close:
                self.close()
            return Answer(response.status, response.getheader('Content-Type', ''), content)
        finally:
            deadline.done = True

    def _connect(self, parts, timeout, verify, deadline):
        """The kept-alive connection, or a new one; its socket under the watchdog for this exchange."""
        scheme, host, port = parts.scheme, parts.hostname, parts.port
        key = (scheme, host, port, verify if scheme == 'https' else None)
        if self._conn is not None and (self._key != key or _dropped(self._conn.sock)):
            self.close()
        if self._conn is None:
            if scheme == 'https':
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(verify))
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                conn.connect()
            except Exception as exc:  # pylint: disable=broad-exception-caught
                conn.close()
                # A TLS handshake that fails happened on an open connection, but no request was in it.
                raise ExchangeFailed(exc, too_slow=isinstance(exc, socket.timeout), sent=False)
            self._conn, self._key = conn, key
        self._conn.sock.settimeout(timeout)
        _WATCHDOG.guard(deadline, self._conn.sock)
        return self._conn


def _dropped(sock):
    """True when the phone closed the kept-alive connection (it is readable: end-of-file, or bytes nobody asked for)."""
    if sock is None:
        return True
    try:
        readable, dummy, dummy = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _read_body(response, max_body):
    length = response.getheader('Content-Length')
    if length is not None and length.strip().isdigit() and int(length) > max_body:
        raise ExchangeFailed(None, too_big=True, answered=True)
    chunks, size = [], 0
    while True:
        chunk = response.read(CHUNK)
        if not chunk:
            return b''.join(chunks)
        size += len(chunk)
        if size > max_body:
            raise ExchangeFailed(None, too_big=True, answered=True)
        chunks.append(chunk)
