# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place in the collection that speaks Grandstream CTI.

URL building, passcode authentication, HTTP(S), tolerant parsing of every
firmware variant in ``cti-api.md`` section 3, the error classes of section 4
and redaction of the passcode all live here.  Modules, action plugins and the
fleet fan-out only call :class:`CTIClient` methods.

This file also runs on remote hosts (``delegate_to`` a jump host), so it keeps
to Python 3.8 syntax and imports ``requests`` behind a guard.
"""

import json
import re
import traceback

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    import requests.exceptions
except ImportError:
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact

HAS_REQUESTS = requests is not None

# Error classes of cti-api.md section 4.  Reports, ledgers and tests use these strings.
UNREACHABLE = 'unreachable'
AUTH_FAILED = 'auth_failed'
LOCKED = 'locked'
FORBIDDEN = 'forbidden'
ERROR = 'error'
REJECTED = 'rejected'
ERROR_CLASSES = (UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR, REJECTED)

DEFAULT_TIMEOUT = 10.0
EXCERPT_LENGTH = 80

# What an admin should check, per error class.  Shown after the sentence saying what happened.
HINTS = {
    UNREACHABLE: 'Is the phone powered, on the network, and is the address and port right?',
    AUTH_FAILED: 'Check the passcode (grandstream_passcode / GRANDSTREAM_PASSCODE). The request was not retried: '
                 'five wrong passcodes lock the phone.',
    LOCKED: 'Wait for the lock to expire, then fix the passcode before trying again.',
    FORBIDDEN: "Is Action URI Support enabled and the controller's IP in the phone's Action URI Allowed IP List?",
    ERROR: 'Does this model and firmware support the CTI function?',
    REJECTED: '',
}

LINE_IDLE = 'idle'
# An account or line object carries at least one of these keys; a body without them is the wrong shape.
ACCOUNT_KEYS = ('id', 'sip_id', 'reg')
LINE_KEYS = ('line', 'state')

# Known send_key tokens (cti-api.md section 3).  MPK1..MPKn are matched by pattern.
SEND_KEY_TOKENS = frozenset(
    [str(digit) for digit in range(10)]
    + ['STAR', 'POUND', 'SEND', 'OK', 'UP', 'DOWN', 'LEFT', 'RIGHT', 'ONHOOK', 'OFFHOOK', 'LOCK', 'UNLOCK',
       'SPEAKER', 'VUP', 'VDOWN', 'MUTE', 'HOLD', 'CONF', 'XFER']
)
SEND_KEY_ALIASES = {'*': 'STAR', '#': 'POUND'}
_MPK_RE = re.compile(r'^MPK[1-9][0-9]*$')


class CTIError(Exception):
    """A CTI request failed.  ``error_class`` is one of ERROR_CLASSES.

    ``str(error)`` is one sentence an admin understands, naming the phone; it
    never contains the passcode.
    """

    def __init__(self, phone, error_class, message, status=None, hint=None, details=None, request_sent=None, retryable=True):
        self.phone = phone
        # Transport failures only: whether the request left (a dropped REBOOT counts as sent), and
        # whether a read may be retried (not after a TLS failure, which would fail the same way).
        self.request_sent = request_sent
        self.retryable = retryable
        self.error_class = error_class
        self.status = status
        self.reason = message
        self.hint = HINTS.get(error_class, '') if hint is None else hint
        self.details = details or {}
        super(CTIError, self).__init__(self._text())

    def _text(self):
        text = '%s: %s' % (self.phone, self.reason)
        return '%s %s' % (text, self.hint) if self.hint else text

    def extend_reason(self, words):
        """Append a few words to the sentence ("did not answer ... within 10 s, tried 2 times.")."""
        self.reason = '%s, %s.' % (self.reason.rstrip('.'), words)
        self.args = (self._text(),)

    @property
    def message(self):
        return str(self)

    def to_result(self):
        """Fields for a failed task result or a report row."""
        result = {'msg': str(self), 'error_class': self.error_class}
        if self.status is not None:
            result['http_status'] = self.status
        result.update(self.details)
        return result


def _excerpt(raw, secrets):
    text = raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else str(raw)
    text = re.sub(r'\s+', ' ', text).strip()
    text = ''.join(char if char.isprintable() else '?' for char in text)
    if len(text) > EXCERPT_LENGTH:
        text = text[:EXCERPT_LENGTH] + '...'
    return redact(text, secrets)


class CTIConnection(object):
    """How to reach one phone.  ``name`` is how messages call it (the inventory name)."""

    def __init__(self, host, passcode=None, port=None, scheme='http', validate_certs=True, ca_path=None,
                 timeout=DEFAULT_TIMEOUT, name=None):
        if not host:
            raise ValueError('a phone address (host) is required')
        if scheme not in ('http', 'https'):
            raise ValueError('scheme must be http or https, not %r' % (scheme,))
        self.host = str(host)
        self.passcode = passcode
        self.scheme = scheme
        self.port = int(port) if port else (443 if scheme == 'https' else 80)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.name = name or self.host

    @property
    def label(self):
        """'gs0042 (10.1.4.42)' or '10.1.4.42:8080' when the name is the address."""
        address = self.host if self.port in (80, 443) else '%s:%d' % (self.host, self.port)
        if self.name in (self.host, address):
            return address
        return '%s (%s)' % (self.name, address)

    @property
    def base_url(self):
        host = '[%s]' % self.host if ':' in self.host else self.host
        return '%s://%s:%d/cgi-bin/' % (self.scheme, host, self.port)

    def __repr__(self):
        # Never show the passcode, even in a debugger or a traceback.
        return 'CTIConnection(%s)' % self.label


class CTIClient(object):
    """Speaks CTI to one phone.  Not thread-safe: use one client per phone and thread."""

    def __init__(self, connection, session=None, read_retries=1):
        if not HAS_REQUESTS and session is None:
            raise RuntimeError('the Python library "requests" is required')
        self.connection = connection
        self.session = session if session is not None else requests.Session()
        # Phones sit on the voice LAN: never route CTI through an HTTP proxy from the environment,
        # which would also hand the passcode in the query string to the proxy.
        self.session.trust_env = False
        self.requests_sent = 0
        # Reboot probes poll on their own schedule and set 0: a retry would only stretch their timeouts.
        self.read_retries = read_retries

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- the seven CTI functions -------------------------------------------------------------

    def get_accounts(self):
        """Accounts with ``configured`` and ``registered`` booleans."""
        body = self.call('api-get_accounts')['body']
        return [normalize_account(item) for item in _as_list(body, self, 'api-get_accounts', ACCOUNT_KEYS)]

    def get_phone_status(self):
        """``{'status': 'available', 'misc': '0'}``; unknown status values pass through."""
        envelope = self.call('api-get_phone_status')
        body = envelope.get('body')
        if isinstance(body, (dict, list)) or body is None:
            raise self._wrong_shape('api-get_phone_status', 'a status string', body)
        misc = envelope.get('misc')
        return {'status': str(body), 'misc': None if misc is None else str(misc)}

    def get_line_status(self):
        """Normalized lines (see :func:`normalize_line`)."""
        body = self.call('api-get_line_status', {'line': -1})['body']
        return [normalize_line(item) for item in _as_list(body, self, 'api-get_line_status', LINE_KEYS)]

    def phone_operation(self, cmd, line=None):
        params = {'cmd': cmd}
        if line is not None:
            params['line'] = line
        return self._command('api-phone_operation', params, success_bodies=(True, 'true', 'complete', 'success'))

    def send_key(self, keys):
        return self._command('api-send_key', {'keys': ':'.join(keys)}, success_bodies=('complete', True, 'true'))

    def make_call(self, number, account=None):
        params = {'phonenumber': number}
        if account is not None:
            params['account'] = account
        return self._command('api-make_call', params, success_bodies=(True, 'true', 'complete', 'success'))

    def sys_operation(self, request):
        """Send REBOOT or RESET.  Returns ``{'sent': True, 'dropped': bool, 'body': ...}``.

        The phone may close the connection instead of answering (cti-api.md section 3):
        a connection dropped after the request went out counts as sent.
        """
        request = request.upper()
        expected = {'REBOOT': 'savereboot', 'RESET': 'reset'}
        try:
            envelope = self.call('api-sys_operation', {'request': request}, command=True)
        except CTIError as error:
            if error.request_sent:
                return {'sent': True, 'dropped': True, 'body': None}
            raise
        body = envelope.get('body')
        if str(body).lower() != expected.get(request, ''):
            raise CTIError(self.connection.label, REJECTED, 'the phone refused %s (answered %r).' % (request, body),
                           status=200)
        return {'sent': True, 'dropped': False, 'body': body}

    def _command(self, function, params, success_bodies):
        envelope = self.call(function, params, command=True)
        body = envelope.get('body')
        normalized = body.lower() if isinstance(body, str) else body
        if normalized not in success_bodies:
            raise CTIError(self.connection.label, REJECTED, '%s was refused by the phone (answered %r).' % (function, body),
                           status=200)
        return body

    # -- transport ---------------------------------------------------------------------------

    def call(self, function, params=None, command=False):
        """One CTI request; returns the JSON envelope of a ``success`` answer.

        Reads retry a transport failure once; commands and authentication failures never retry.
        """
        attempts = 1 if command else 1 + self.read_retries
        for attempt in range(1, attempts + 1):
            try:
                return self._request_once(function, params or {})
            except CTIError as error:
                if error.error_class != UNREACHABLE or not error.retryable:
                    raise
                if attempt == attempts:
                    if attempts > 1:
                        error.extend_reason('tried %d times' % attempts)
                    raise
        raise AssertionError('unreachable code')  # pragma: no cover

    def _request_once(self, function, params):
        conn = self.connection
        query = dict(params)
        if conn.passcode is not None:
            query['passcode'] = conn.passcode
        verify = conn.ca_path if (conn.validate_certs and conn.ca_path) else bool(conn.validate_certs)
        self.requests_sent += 1
        try:
            response = self.session.get(conn.base_url + function, params=query, timeout=conn.timeout,
                                        verify=verify, allow_redirects=False)
            raw = response.content
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise self._transport_error(function, exc)
        return self._classify(function, response.status_code, response.headers.get('Content-Type', ''), raw)

    def _secrets(self):
        return [self.connection.passcode]

    def _transport_error(self, function, exc):
        label = self.connection.label
        sent = _request_was_sent(exc)
        if requests is not None and isinstance(exc, requests.exceptions.SSLError):
            return CTIError(label, ERROR, 'the TLS handshake failed (%s).' % _short_cause(exc, self._secrets()),
                            hint='Set validate_certs: false or ca_path to the CA that signed the phone certificate.',
                            request_sent=False, retryable=False)
        if requests is not None and isinstance(exc, requests.exceptions.Timeout):
            what = 'did not answer %s within %g s' % (function, self.connection.timeout)
        elif not sent:
            what = 'could not be reached (%s)' % _short_cause(exc, self._secrets())
        else:
            what = 'dropped the connection during %s (%s)' % (function, _short_cause(exc, self._secrets()))
        return CTIError(label, UNREACHABLE, what + '.', request_sent=sent)

    def _classify(self, function, status, content_type, raw):
        label = self.connection.label
        secrets = self._secrets()
        if status == 401:
            raise CTIError(label, AUTH_FAILED, 'the phone rejected the passcode (HTTP 401).', status=status)
        if status == 403:
            raise CTIError(label, FORBIDDEN, 'CTI refused the request (HTTP 403).', status=status)
        if status == 404:
            raise CTIError(label, ERROR, '%s is not supported by this phone (HTTP 404).' % function, status=status)
        if status != 200:
            raise CTIError(label, ERROR, 'the phone answered HTTP %d to %s: %r.' % (status, function, _excerpt(raw, secrets)),
                           status=status, hint='')
        try:
            envelope = json.loads(raw.decode('utf-8-sig'))
        except (UnicodeDecodeError, ValueError):
            kind = (content_type or 'no content type').split(';')[0].strip()
            raise CTIError(label, ERROR, 'the answer to %s is not CTI JSON (HTTP 200, %s): %r.'
                           % (function, kind, _excerpt(raw, secrets)), status=status)
        if not isinstance(envelope, dict) or envelope.get('response') not in ('success', 'error'):
            raise self._wrong_shape(function, 'a {"response": ..., "body": ...} object', envelope)
        if envelope['response'] == 'success':
            return envelope
        body = envelope.get('body')
        keyword = body.strip().lower() if isinstance(body, str) else None
        if keyword == 'unauthorized':
            raise CTIError(label, AUTH_FAILED, 'the phone rejected the passcode (answer "unauthorized").', status=status)
        if keyword == 'locked':
            lock_time = envelope.get('lockTime')
            extra = ' for %s more minutes' % lock_time if lock_time not in (None, '') else ''
            raise CTIError(label, LOCKED, 'the phone is locked%s after repeated wrong passcodes.' % extra, status=status,
                           details={'lock_minutes': lock_time} if lock_time not in (None, '') else None)
        if keyword == 'forbidden':
            raise CTIError(label, FORBIDDEN, 'CTI refused the request (answer "forbidden").', status=status)
        raise CTIError(label, REJECTED, '%s was refused by the phone (answered %r).' % (function, _excerpt(repr(body), secrets)),
                       status=status)

    def _wrong_shape(self, function, expected, got):
        return CTIError(self.connection.label, ERROR, 'the answer to %s is not %s: %r.'
                        % (function, expected, _excerpt(json.dumps(got), self._secrets())), status=200)


def _as_list(body, client, function, keys):
    """The body as a list of objects; each must carry at least one of ``keys`` (else it is not what was asked)."""
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(item, dict) and any(key in item for key in keys) for item in items):
        expected = 'a list of objects with %s' % ' or '.join('"%s"' % key for key in keys)
        raise client._wrong_shape(function, expected, body)  # pylint: disable=protected-access
    return items


def _chain(exc):
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
    for item in _chain(exc):
        names.update(klass.__name__ for klass in type(item).__mro__)
    if names & set(['NewConnectionError', 'ConnectTimeoutError', 'ConnectTimeout', 'NameResolutionError',
                    'ConnectionRefusedError', 'LocationParseError', 'InvalidURL']):
        return False
    return True


def _short_cause(exc, secrets):
    """A few words for the cause: 'connection refused', 'name not found', ... never the URL."""
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return 'connection refused'
        if isinstance(item, ConnectionResetError):
            return 'connection reset'
        if type(item).__name__ == 'NameResolutionError' or 'Name or service not known' in str(item):
            return 'name not found'
        if type(item).__name__ == 'RemoteDisconnected':
            return 'closed without an answer'
        if isinstance(item, OSError) and item.errno is not None and item.strerror:
            return item.strerror.lower()
    text = redact(str(exc), secrets)
    text = re.sub(r'https?://\S+', '<url>', text)
    return _excerpt(text, secrets) or type(exc).__name__


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on')
    return bool(value)


def normalize_account(raw):
    """An account as the modules and reports show it.

    Known keys are normalized (``id`` int, ``registered``/``configured`` booleans); keys a
    firmware adds (``auto_cfg``...) pass through unchanged.
    """
    account = dict(raw)
    account['id'] = _to_int(raw.get('id'))
    for key in ('sip_id', 'sip_server', 'name'):
        value = raw.get(key)
        account[key] = '' if value is None else str(value)
    account['configured'] = account['sip_id'].strip() != ''
    account['registered'] = _truthy(raw.get('reg', 0))
    return account


def normalize_line(raw):
    """A line as the modules show it: any state other than ``idle`` means in use."""
    state = str(raw.get('state') or LINE_IDLE).strip().lower()
    # Idle lines carry "" (doc firmware) or 0 (newer firmware): neither names an account.
    account = raw.get('acct') if state != LINE_IDLE else None
    return {
        'line': _to_int(raw.get('line')),
        'state': state,
        'in_use': state != LINE_IDLE,
        'active': _truthy(raw.get('active', 0)),
        'account': _to_int(account) if account not in (None, '') else None,
        'remote_name': str(raw.get('remotename') or ''),
        'remote_number': str(raw.get('remotenumber') or ''),
        'conference': _truthy(raw.get('conf', 0)),
    }


def accounts_summary(accounts):
    configured = [account for account in accounts if account['configured']]
    return {
        'total': len(accounts),
        'configured': len(configured),
        'registered': len([account for account in configured if account['registered']]),
        'all_registered': bool(configured) and all(account['registered'] for account in configured),
    }


def normalize_keys(keys):
    """Validate send_key tokens before anything is sent.  Returns the tokens to send.

    Raises ValueError naming every unknown key.
    """
    tokens = []
    unknown = []
    for key in keys:
        token = SEND_KEY_ALIASES.get(str(key).strip(), str(key).strip().upper())
        if token in SEND_KEY_TOKENS or _MPK_RE.match(token):
            tokens.append(token)
        else:
            unknown.append(str(key))
    if unknown:
        raise ValueError('unknown key%s %s; known keys are 0-9, *, #, %s and MPK1..MPKn'
                         % ('s' if len(unknown) > 1 else '', ', '.join(repr(key) for key in unknown),
                            ', '.join(sorted(token for token in SEND_KEY_TOKENS if not token.isdigit()))))
    if not tokens:
        raise ValueError('keys must name at least one key')
    return tokens
