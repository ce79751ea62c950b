# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP exchange with a phone, bounded in time and size: the transport under the CTI client (cti.py).

``requests`` bounds each socket operation, not a request: a phone that sends its headers and then one byte a
second (a wedged web server, a Wi-Fi handset in power save, a half-open connection) would hold a task for ever.
So every exchange here has

- a total deadline (connect + headers + body <= ``timeout``): one watchdog thread per process shuts down the
  socket of an exchange whose deadline passed, which ends any read blocked on it;
- a body cap (``max_body``, 1 MiB by default: no CTI answer comes near it): a bigger answer is read no further.

The watchdog learns the socket from the connection classes of a requests adapter (``deadline_session()``); an
exchange over a session without that adapter (a test's fake session) is bounded by the fake alone.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import heapq
import itertools
import os
import socket
import threading
import time

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    import requests.adapters
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
except ImportError:
    import traceback
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

HAS_REQUESTS = requests is not None

MAX_BODY = 1024 * 1024
CHUNK = 64 * 1024


class Answer(object):
    """What a phone answered: ``status`` (int), ``content_type`` (str), ``body`` (bytes, at most max_body)."""

    __slots__ = ('status', 'content_type', 'body')

    def __init__(self, status, content_type, body):
        self.status = status
        self.content_type = content_type or ''
        self.body = body


class ExchangeFailed(Exception):
    """The exchange did not complete.  ``cause``: the exception from requests (None for ``too_big``);
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
    """The deadline of one exchange in one thread, and the socket it guards once the connection has one."""

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
        self._local = threading.local()

    def begin(self, when):
        deadline = _Deadline(when)
        self._local.current = deadline
        return deadline

    def end(self, deadline):
        deadline.done = True
        if getattr(self._local, 'current', None) is deadline:
            self._local.current = None

    def guard(self, sock):
        """Called by the connection of the current thread with its socket: arm the current exchange's deadline."""
        deadline = getattr(self._local, 'current', None)
        if deadline is None or deadline.done or deadline.sock is sock:
            return
        deadline.sock = sock
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='cti-deadlines')
                self._thread.daemon = True
                self._thread.start()
            heapq.heappush(self._heap, (deadline.when, next(self._order), deadline))
            self._cond.notify()
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


if HAS_REQUESTS:
    class _GuardedConnection(object):
        """Hands its socket to the watchdog when it connects, and again for each request on a kept-alive socket."""

        def connect(self):
            super(_GuardedConnection, self).connect()
            _WATCHDOG.guard(self.sock)

        def request(self, *args, **kwargs):
            if getattr(self, 'sock', None) is not None:
                _WATCHDOG.guard(self.sock)
            return super(_GuardedConnection, self).request(*args, **kwargs)

    class _GuardedHTTPConnection(_GuardedConnection, HTTPConnection):
        pass

    class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
        pass

    class _GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = _GuardedHTTPConnection

    class _GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _GuardedHTTPSConnection

    class _GuardedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super(_GuardedAdapter, self).init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {'http': _GuardedHTTPPool, 'https': _GuardedHTTPSPool}


def deadline_session():
    """A requests session whose exchanges the watchdog can end (one per phone: its keep-alive connection)."""
    session = requests.Session()
    # Phones sit on the voice LAN: never route CTI through an HTTP proxy from the environment, which would also
    # hand the passcode in the query string to the proxy.
    session.trust_env = False
    adapter = _GuardedAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount('http://', adapter)
    session.mount('https://', adapter)
    return session


# -- one exchange --------------------------------------------------------------------------------

def exchange(session, method, url, timeout, verify=True, params=None, data=None, headers=None, max_body=MAX_BODY):
    """Send one request and read the whole answer within ``timeout`` seconds and ``max_body`` bytes.

    Returns an :class:`Answer`; raises :class:`ExchangeFailed`.  Nothing is retried here.
    """
    deadline = _WATCHDOG.begin(time.monotonic() + timeout)
    response = None
    try:
        try:
            response = session.request(method, url, params=params, data=data, headers=headers, timeout=timeout,
                                       verify=verify, allow_redirects=False, stream=True)
            body = _read_body(response, max_body)
        except ExchangeFailed:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise ExchangeFailed(exc, too_slow=deadline.fired or _timed_out(exc), answered=response is not None,
                                 sent=_request_was_sent(exc))
        if deadline.fired:
            raise ExchangeFailed(None, too_slow=True, answered=True)
        return Answer(response.status_code, response.headers.get('Content-Type', ''), body)
    finally:
        _WATCHDOG.end(deadline)
        if response is not None:
            response.close()


def _read_body(response, max_body):
    length = response.headers.get('Content-Length')
    if length is not None and length.strip().isdigit() and int(length) > max_body:
        raise ExchangeFailed(None, too_big=True, answered=True)
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > max_body:
            raise ExchangeFailed(None, too_big=True, answered=True)
        chunks.append(chunk)
    return b''.join(chunks)


def _timed_out(exc):
    return requests is not None and isinstance(exc, requests.exceptions.Timeout)


def exception_chain(exc):
    """The exception and everything it wraps (requests -> urllib3 -> socket)."""
    seen = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is item for item in seen) or len(seen) > 20:
            continue
        seen.append(current)
        # ssl.SSLError has a string in .reason (urllib3 errors an exception): follow exceptions only.
        linked = [getattr(current, 'reason', None), getattr(current, '__cause__', None), getattr(current, '__context__', None)]
        linked.extend(getattr(current, 'args', ()))
        todo.extend(item for item in linked if isinstance(item, BaseException))
    return seen


def _request_was_sent(exc):
    """False when the connection never opened (refused, DNS, no route, connect timeout)."""
    names = set()
    for item in exception_chain(exc):
        names.update(klass.__name__ for klass in type(item).__mro__)
    if names & set(['NewConnectionError', 'ConnectTimeoutError', 'ConnectTimeout', 'NameResolutionError',
                    'ConnectionRefusedError', 'LocationParseError', 'InvalidURL']):
        return False
    return True
