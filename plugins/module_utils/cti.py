# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place in the collection that speaks Grandstream CTI, in both dialects.

URL building, authentication (the CTI guide's ``?passcode=`` and the web-session login of WP8xx and newer
GXP firmware, cti-api.md section 5), the error classes of section 4 and what a phone's answers mean all
live here (the meaning of accounts and lines in ``cti_answers``, one bounded HTTP exchange in ``cti_http``).
Modules, action plugins and the fleet fan-out only call :class:`CTIClient` methods.

This file also runs on remote hosts (``delegate_to`` a jump host), so it keeps to Python 3.8 syntax and the
standard library.
"""

import hashlib
import http.client
import json
import re
import socket
import ssl

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_answers import (
    ACCOUNT_KEYS, LINE_IDLE, LINE_KEYS, accounts_summary, normalize_account, normalize_keys, normalize_line,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_http import (
    MAX_BODY, ExchangeFailed, HTTPTransport,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import AUTH_DIALECTS
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact

# The names other files import from here.
__all__ = ['ACCOUNT_KEYS', 'LINE_IDLE', 'LINE_KEYS', 'accounts_summary', 'normalize_account', 'normalize_keys',
           'normalize_line', 'CTIClient', 'CTIConnection', 'CTIError']

# Error classes of cti-api.md section 4.  Reports, ledgers and tests use these strings.
UNREACHABLE = 'unreachable'
AUTH_FAILED = 'auth_failed'
LOCKED = 'locked'
FORBIDDEN = 'forbidden'
ERROR = 'error'
REJECTED = 'rejected'
ERROR_CLASSES = (UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR, REJECTED)

# Authentication dialects (grandstream_auth): ?passcode= on every request (the CTI guide); the web-session login with
# the sha256 of password + nonce (WP8xx, newer GXP21xx); the same login with the plain password (older GXP firmware).
AUTH_PASSCODE, AUTH_SESSION, AUTH_SESSION_PLAIN = AUTH_DIALECTS
DEFAULT_USERNAME = 'admin'

DEFAULT_TIMEOUT = 10.0
EXCERPT_LENGTH = 80
MODEL_PATH = '/json/configs/model.define.js'

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
_WRONG_RE = re.compile(r'^wrong(\d*)$')


class CTIError(Exception):
    """A CTI request failed.  ``error_class`` is one of ERROR_CLASSES.

    ``str(error)`` is one sentence an admin understands, naming the phone; it
    never contains the passcode or a session id.
    """

    def __init__(self, phone, error_class, message, status=None, hint=None, details=None, request_sent=None, retryable=True):
        self.phone = phone
        # Transport failures only: whether the request left (a dropped REBOOT counts as sent), and whether a read
        # may be retried (not after a TLS failure or a phone too slow for the deadline, which would fail the same way).
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
        """Append a few words to the sentence ("could not be reached ..., tried 2 times.")."""
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


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class CTIConnection(object):
    """How to reach one phone.  ``name`` is how messages call it (the inventory name).

    ``passcode`` is the CTI passcode or, for the session dialects, the web password of ``username``.
    """

    def __init__(self, host, passcode=None, port=None, scheme='http', validate_certs=True, ca_path=None,
                 timeout=DEFAULT_TIMEOUT, name=None, auth=AUTH_PASSCODE, username=None):
        if not host:
            raise ValueError('a phone address (host) is required')
        if scheme not in ('http', 'https'):
            raise ValueError('scheme must be http or https, not %r' % (scheme,))
        if auth not in AUTH_DIALECTS:
            raise ValueError('auth must be one of %s, not %r' % (', '.join(AUTH_DIALECTS), auth))
        self.host = str(host)
        self.passcode = passcode
        self.scheme = scheme
        self.port = int(port) if port else (443 if scheme == 'https' else 80)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.name = name or self.host
        self.auth = auth
        self.username = username or DEFAULT_USERNAME

    @property
    def label(self):
        """'gs0042 (10.1.4.42)' or '10.1.4.42:8080' when the name is the address."""
        address = self.host if self.port in (80, 443) else '%s:%d' % (self.host, self.port)
        if self.name in (self.host, address):
            return address
        return '%s (%s)' % (self.name, address)

    @property
    def origin(self):
        """``http://10.1.4.42`` or ``https://10.1.4.42:8443``, as a browser sends it in Origin and Referer."""
        host = '[%s]' % self.host if ':' in self.host else self.host
        default = 443 if self.scheme == 'https' else 80
        return '%s://%s' % (self.scheme, host) if self.port == default else '%s://%s:%d' % (self.scheme, host, self.port)

    @property
    def base_url(self):
        host = '[%s]' % self.host if ':' in self.host else self.host
        return '%s://%s:%d/cgi-bin/' % (self.scheme, host, self.port)

    def copy(self, **changes):
        fields = dict(host=self.host, passcode=self.passcode, port=self.port, scheme=self.scheme,
                      validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout, name=self.name,
                      auth=self.auth, username=self.username)
        fields.update(changes)
        return CTIConnection(**fields)

    def __repr__(self):
        # Never show the passcode, even in a debugger or a traceback.
        return 'CTIConnection(%s)' % self.label


class CTIClient(object):
    """Speaks CTI to one phone.  Not thread-safe: use one client per phone and thread.

    A session-dialect client logs in on its first request and reuses the session for the others (one login per
    client), logs in again once when the phone answers 401 (the session expired, or a second login replaced it),
    and logs out in :meth:`close`.  A failed login is never retried: wrong passwords count towards the lock.
    """

    def __init__(self, connection, transport=None, read_retries=1, max_body=MAX_BODY):
        self.connection = connection
        # The phone's HTTP connection (cti_http.HTTPTransport, kept alive between requests; a fake in unit tests).
        self.transport = transport if transport is not None else HTTPTransport()
        self.requests_sent = 0
        # Reboot probes poll on their own schedule and set 0: a retry would only stretch their timeouts.
        self.read_retries = read_retries
        self.max_body = max_body
        self.login = None  # the session dialect's login answer: {'ver', 'mac', 'defaultAuth', ...} (never the sid)
        self._sid = None

    def close(self):
        if self._sid is not None:
            try:
                self._form('dologout', {})
            except CTIError:
                pass  # the phone forgets the session by itself; nothing more to do
            self._sid = None
        self.transport.close()

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
        """Normalized lines (see :func:`cti_answers.normalize_line`)."""
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

    # -- what the phone is ---------------------------------------------------------------------

    def get_model(self):
        """The model from ``/json/configs/model.define.js`` (no login needed), e.g. ``'WP826'``.

        Raises CTIError (class ``error`` with HTTP 404 when the firmware has no such file).
        """
        answer = self._exchange('GET', self.connection.origin + MODEL_PATH, 'model.define.js')
        if answer.status == 404:
            raise CTIError(self.connection.label, ERROR, 'the phone has no %s (HTTP 404): older firmware does not tell its '
                           'model there.' % MODEL_PATH, status=404, hint='')
        if answer.status != 200:
            raise self._status_error('model.define.js', answer)
        try:
            text = answer.body.decode('utf-8-sig')
            found = json.loads(text[text.index('{'):text.rindex('}') + 1])
        except (UnicodeDecodeError, ValueError):
            raise CTIError(self.connection.label, ERROR, 'the answer to %s is not JSON: %r.'
                           % (MODEL_PATH, _excerpt(answer.body, self._secrets())), status=200, hint='')
        model = found.get('model') if isinstance(found, dict) else None
        if not isinstance(model, str) or not model.strip():
            raise self._wrong_shape(MODEL_PATH, 'an object with a "model"', found)
        return model.strip()

    def login_facts(self):
        """Firmware, MAC and factory-password flag from the session login (logs in if needed), or None for a
        passcode phone, whose dialect does not tell them."""
        if self.connection.auth == AUTH_PASSCODE:
            return None
        self._ensure_login()
        return dict(self.login)

    # -- transport ---------------------------------------------------------------------------

    def call(self, function, params=None, command=False):
        """One CTI request; returns the JSON envelope of a ``success`` answer.

        Reads retry a quick transport failure once; commands, logins, authentication failures and a phone that
        used up the whole timeout never retry.
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
        if not conn.passcode:
            # Not sent without one: the phone would count the request towards its lockout.
            raise CTIError(conn.label, AUTH_FAILED, 'no passcode is set for the phone, so nothing was sent to it.')
        if conn.auth == AUTH_PASSCODE:
            answer = self._exchange('GET', conn.base_url + function, function, params=dict(params, passcode=conn.passcode))
            return self._classify(function, answer)
        relogin = self._sid is not None
        self._ensure_login()
        answer = self._exchange('POST', conn.base_url + function, function, data=dict(params, sid=self._sid),
                                headers=self._session_headers())
        if answer.status == 401 and relogin:
            # The session expired, or a second login elsewhere replaced it: one new login, then fail for good.
            self._sid = None
            self._login()
            answer = self._exchange('POST', conn.base_url + function, function, data=dict(params, sid=self._sid),
                                    headers=self._session_headers())
        if answer.status == 401:
            raise CTIError(conn.label, AUTH_FAILED, 'the phone refused the session for %s (HTTP 401) right after the login.'
                           % function, status=401, hint="The user %s may not use CTI (a user-role account?); an admin "
                           "account can." % conn.username)
        return self._classify(function, answer)

    def _exchange(self, method, url, what, params=None, data=None, headers=None):
        conn = self.connection
        verify = conn.ca_path if (conn.validate_certs and conn.ca_path) else bool(conn.validate_certs)
        self.requests_sent += 1
        try:
            return self.transport.exchange(method, url, conn.timeout, verify=verify, params=params, data=data,
                                           headers=headers, max_body=self.max_body)
        except ExchangeFailed as failure:
            raise self._transport_error(what, failure)

    # -- the session dialect -------------------------------------------------------------------

    def _session_headers(self):
        origin = self.connection.origin
        headers = {'Origin': origin, 'Referer': origin + '/'}
        if self._sid is not None:
            headers['Cookie'] = 'sid=%s' % self._sid
        return headers

    def _ensure_login(self):
        if self._sid is None:
            self._login()

    def _login(self):
        conn = self.connection
        if conn.auth == AUTH_SESSION:
            nonce = self._login_step('access', {'access': _sha256(conn.username)})
            if not isinstance(nonce, str) or not nonce:
                raise self._wrong_shape('/cgi-bin/access', 'a nonce string', nonce)
            password = _sha256(conn.passcode + nonce)
        else:
            password = conn.passcode
        body = self._login_step('dologin', {'username': conn.username, 'password': password})
        if not isinstance(body, dict) or not isinstance(body.get('sid'), str) or not body['sid']:
            raise self._wrong_shape('/cgi-bin/dologin', 'an object with a "sid"', body if not isinstance(body, dict)
                                    else dict((key, value) for key, value in body.items() if key != 'sid'))
        self._sid = body['sid']
        self.login = dict((key, value) for key, value in body.items() if key not in ('sid', 'role'))

    def _login_step(self, step, form):
        """POST one login form; returns the body of a success answer.  Never retried."""
        answer = self._form(step, form)
        envelope = self._parse(step, answer)
        if envelope['response'] == 'success':
            return envelope.get('body')
        body = envelope.get('body')
        keyword = body.strip().lower() if isinstance(body, str) else ''
        label = self.connection.label
        wrong = _WRONG_RE.match(keyword)
        if wrong:
            left = wrong.group(1)
            attempts = ('%s attempt%s left before the phone locks' % (left, '' if left == '1' else 's') if left
                        else 'the phone did not say how many attempts are left before it locks')
            raise CTIError(label, AUTH_FAILED, 'the phone rejected the password of %s (%s).' % (self.connection.username, attempts),
                           status=answer.status, details={'attempts_left': int(left)} if left else None,
                           hint='Check the password (grandstream_passcode) and the user (grandstream_username). The login '
                                'was not retried: five wrong passwords lock the phone.')
        if keyword == 'locked':
            raise self._locked(envelope, answer.status)
        raise CTIError(label, REJECTED, 'the phone refused the %s step of the login (answered %r).'
                       % (step, _excerpt(repr(body), self._secrets())), status=answer.status)

    def _form(self, step, form):
        conn = self.connection
        data = dict(form)
        if self._sid is not None and step == 'dologout':
            data['sid'] = self._sid
        answer = self._exchange('POST', conn.base_url + step, '/cgi-bin/' + step, data=data, headers=self._session_headers())
        if answer.status == 404 and step in ('access', 'dologin'):
            raise CTIError(conn.label, ERROR, 'the phone has no web-session login (/cgi-bin/%s answered HTTP 404).' % step,
                           status=404, hint='Does it speak the passcode dialect? Set grandstream_auth: passcode.')
        return answer

    # -- answers -------------------------------------------------------------------------------

    def _secrets(self):
        return [self.connection.passcode, self._sid]

    def _transport_error(self, what, failure):
        label = self.connection.label
        timeout = self.connection.timeout
        exc = failure.cause
        if failure.too_big:
            return CTIError(label, ERROR, 'the answer to %s is larger than %d KiB, which no CTI answer is; it was not read '
                            'further.' % (what, self.max_body // 1024), hint='Is this a Grandstream phone?', retryable=False)
        if failure.too_slow and failure.answered:
            return CTIError(label, UNREACHABLE, 'answered too slowly: no complete answer to %s within %g s.' % (what, timeout),
                            hint='A wedged web server or a Wi-Fi handset in power save; raise timeout '
                                 '(grandstream_timeout) if it is just slow.', request_sent=True, retryable=False)
        if failure.too_slow:
            return CTIError(label, UNREACHABLE, 'did not answer %s within %g s.' % (what, timeout),
                            request_sent=failure.sent, retryable=False)
        if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
            return CTIError(label, ERROR, 'the TLS handshake failed (%s).' % _short_cause(exc, self._secrets()),
                            hint='Set validate_certs: false or ca_path to the CA that signed the phone certificate.',
                            request_sent=False, retryable=False)
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, http.client.RemoteDisconnected):
            return CTIError(label, ERROR, 'the answer to %s is not HTTP (%s).' % (what, type(exc).__name__),
                            hint='Is this the web port of a Grandstream phone?', request_sent=True, retryable=False)
        if not failure.sent:
            what_happened = 'could not be reached (%s)' % _short_cause(exc, self._secrets())
        else:
            what_happened = 'dropped the connection during %s (%s)' % (what, _short_cause(exc, self._secrets()))
        return CTIError(label, UNREACHABLE, what_happened + '.', request_sent=failure.sent)

    def _status_error(self, function, answer):
        label = self.connection.label
        if answer.status == 401:
            return CTIError(label, AUTH_FAILED, 'the phone rejected the passcode (HTTP 401).', status=401)
        if answer.status == 403:
            return CTIError(label, FORBIDDEN, 'CTI refused the request (HTTP 403).', status=403)
        if answer.status == 404:
            return CTIError(label, ERROR, '%s is not supported by this phone (HTTP 404).' % function, status=404)
        return CTIError(label, ERROR, 'the phone answered HTTP %d to %s: %r.'
                        % (answer.status, function, _excerpt(answer.body, self._secrets())), status=answer.status, hint='')

    def _parse(self, function, answer):
        """The JSON envelope of a 200 answer, or CTIError."""
        if answer.status != 200:
            raise self._status_error(function, answer)
        try:
            envelope = json.loads(answer.body.decode('utf-8-sig'))
        except (UnicodeDecodeError, ValueError):
            kind = (answer.content_type or 'no content type').split(';')[0].strip()
            raise CTIError(self.connection.label, ERROR, 'the answer to %s is not CTI JSON (HTTP 200, %s): %r.'
                           % (function, kind, _excerpt(answer.body, self._secrets())), status=200)
        if not isinstance(envelope, dict) or envelope.get('response') not in ('success', 'error'):
            raise self._wrong_shape(function, 'a {"response": ..., "body": ...} object', envelope)
        return envelope

    def _locked(self, envelope, status):
        lock_time = envelope.get('lockTime')
        extra = ' for %s more minutes' % lock_time if lock_time not in (None, '') else ''
        return CTIError(self.connection.label, LOCKED, 'the phone is locked%s after repeated wrong passcodes.' % extra,
                        status=status, details={'lock_minutes': lock_time} if lock_time not in (None, '') else None)

    def _classify(self, function, answer):
        label = self.connection.label
        envelope = self._parse(function, answer)
        if envelope['response'] == 'success':
            return envelope
        body = envelope.get('body')
        keyword = body.strip().lower() if isinstance(body, str) else None
        if keyword == 'unauthorized':
            raise CTIError(label, AUTH_FAILED, 'the phone rejected the passcode (answer "unauthorized").', status=answer.status)
        if keyword == 'locked':
            raise self._locked(envelope, answer.status)
        if keyword == 'forbidden':
            raise CTIError(label, FORBIDDEN, 'CTI refused the request (answer "forbidden").', status=answer.status)
        raise CTIError(label, REJECTED, '%s was refused by the phone (answered %r).' % (function, _excerpt(repr(body), self._secrets())),
                       status=answer.status)

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


def _exception_chain(exc):
    """The exception and everything it wraps (its cause, its context)."""
    seen = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is item for item in seen) or len(seen) > 20:
            continue
        seen.append(current)
        # ssl.SSLError has a string in .reason: follow exceptions only.
        linked = [getattr(current, 'reason', None), getattr(current, '__cause__', None), getattr(current, '__context__', None)]
        linked.extend(getattr(current, 'args', ()))
        todo.extend(item for item in linked if isinstance(item, BaseException))
    return seen


def _short_cause(exc, secrets):
    """A few words for the cause: 'connection refused', 'name not found', ... never the URL."""
    for item in _exception_chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return 'connection refused'
        if isinstance(item, ConnectionResetError):
            return 'connection reset'
        if isinstance(item, socket.gaierror):
            return 'name not found'
        if isinstance(item, http.client.RemoteDisconnected):
            return 'closed without an answer'
        if isinstance(item, OSError) and item.errno is not None and item.strerror:
            return item.strerror.lower()
    text = redact(str(exc), secrets)
    text = re.sub(r'https?://\S+', '<url>', text)
    return _excerpt(text, secrets) or type(exc).__name__
