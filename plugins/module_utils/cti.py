# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place in the collection that speaks Grandstream CTI, in both dialects: :class:`CTIClient`.

URL building, authentication (the CTI guide's ``?passcode=`` and the web-session login of WP8xx and newer GXP
firmware, cti-api.md section 5) and the credential rules live here; what answers mean in ``cti_reading``, one
bounded HTTP exchange in ``cti_http``, the cleaning of everything a phone sends in ``phone_text``, the memory of
refused passwords in ``credentials``.  Modules, action plugins and the fleet fan-out only call client methods; what
the phone *is* (model, firmware, factory password) is read by ``phone_facts``.

This file also runs on remote hosts (``delegate_to`` a jump host), so it keeps to Python 3.8 syntax and the
standard library.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.credentials import PasswordGuard
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_answers import (
    ACCOUNT_KEYS, LINE_IDLE, LINE_KEYS, MAX_ACCOUNTS, MAX_LINES, accounts_summary, normalize_account, normalize_keys,
    normalize_line,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_connection import (
    AUTH_PASSCODE, AUTH_SESSION, AUTH_SESSION_PLAIN, DEFAULT_TIMEOUT, DEFAULT_USERNAME, CTIConnection,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import (
    AUTH_FAILED, ERROR, ERROR_CLASSES, FORBIDDEN, HINTS, LOCKED, REJECTED, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_http import MAX_BODY, ExchangeFailed, HTTPTransport
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_reading import AnswerReader
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_session import WebSession
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import TextCleaner, load_json

# The names other files import from here.
__all__ = ['ACCOUNT_KEYS', 'LINE_IDLE', 'LINE_KEYS', 'accounts_summary', 'normalize_account', 'normalize_keys',
           'normalize_line', 'CTIClient', 'CTIConnection', 'CTIError', 'AUTH_PASSCODE', 'AUTH_SESSION',
           'AUTH_SESSION_PLAIN', 'DEFAULT_TIMEOUT', 'DEFAULT_USERNAME', 'AUTH_FAILED', 'ERROR', 'ERROR_CLASSES',
           'FORBIDDEN', 'HINTS', 'LOCKED', 'REJECTED', 'UNREACHABLE']

MODEL_PATH = '/json/configs/model.define.js'


class CTIClient(object):
    """Speaks CTI to one phone.  Not thread-safe: use one client per phone and thread.

    A session-dialect client logs in on its first request and reuses the session for the others (one login per
    client), logs in again once when the phone answers 401 (the session expired, or a second login replaced it),
    and logs out in :meth:`close`.

    The password is never sent twice unless the phone accepted it (``credentials.PasswordGuard``): a refused login or
    passcode is never retried, a credential whose answer was lost is not sent again, and a password this phone refused
    in an earlier run is not tried at all.  ``memory``: a ``credentials.RefusalMemory`` (default: the user's);
    ``gate``: the ``credentials.CredentialGate`` of a fleet task; ``proven``: the caller knows the phone accepts the
    password (the reboot watch of a phone that took the reboot command).
    """

    def __init__(self, connection, transport=None, read_retries=1, max_body=MAX_BODY, memory=None, gate=None,
                 proven=False):
        self.connection = connection
        # The phone's HTTP connection (cti_http.HTTPTransport, kept alive between requests; a fake in unit tests).
        self.transport = transport if transport is not None else HTTPTransport()
        self.requests_sent = 0
        # Reboot probes poll on their own schedule and set 0: a retry would only stretch their timeouts.
        self.read_retries = read_retries
        self.max_body = max_body
        self.cleaner = TextCleaner(self._secrets)
        self.reader = AnswerReader(connection.label, self.cleaner, connection.auth, connection.username,
                                   connection.timeout, max_body)
        self.password = PasswordGuard(connection, memory=memory, gate=gate, proven=proven)
        # The web login (every phone has one; settings need it, the session dialects use it for CTI too).
        self.web = WebSession(connection, self._exchange, self.reader, self.password, self.cleaner)

    @property
    def cut_notes(self):
        """Sentences saying what was cut from the phone's answers (too many accounts, too long a string...)."""
        return list(self.cleaner.cut_notes)

    @property
    def login(self):
        """The web login's answer: ``{'ver', 'mac', 'defaultAuth', ...}`` (never the sid), or None before a login."""
        return self.web.login

    @property
    def login_role(self):
        """``'admin'`` or ``'user'`` (the login answers sha256(role + sid)), None when unknown."""
        return self.web.role

    def close(self):
        self.web.end()
        self.password.leave()
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- the seven CTI functions -------------------------------------------------------------

    def get_accounts(self):
        """Accounts with ``configured`` and ``registered`` booleans (at most MAX_ACCOUNTS; ``cut_notes`` says more)."""
        body = self.call('api-get_accounts')['body']
        items = self._as_list(body, 'api-get_accounts', ACCOUNT_KEYS, MAX_ACCOUNTS, 'accounts')
        return [normalize_account(item) for item in items]

    def get_phone_status(self):
        """``{'status': 'available', 'misc': '0'}``; unknown status values pass through."""
        envelope = self.call('api-get_phone_status')
        body = envelope.get('body')
        if isinstance(body, (dict, list)) or body is None:
            raise self.reader.wrong_shape('api-get_phone_status', 'a status string', body)
        misc = envelope.get('misc')
        return {'status': str(body), 'misc': None if misc is None else str(misc)}

    def get_line_status(self):
        """Normalized lines (see :func:`cti_answers.normalize_line`)."""
        body = self.call('api-get_line_status', {'line': -1})['body']
        items = self._as_list(body, 'api-get_line_status', LINE_KEYS, MAX_LINES, 'lines')
        return [normalize_line(item) for item in items]

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
            raise CTIError(self.connection.label, REJECTED, 'the phone refused %s (answered %r).'
                           % (request, self.reader.excerpt(repr(body))), status=200)
        return {'sent': True, 'dropped': False, 'body': body}

    def _command(self, function, params, success_bodies):
        envelope = self.call(function, params, command=True)
        body = envelope.get('body')
        normalized = body.lower() if isinstance(body, str) else body
        if normalized not in success_bodies:
            raise CTIError(self.connection.label, REJECTED, '%s was refused by the phone (answered %r).'
                           % (function, self.reader.excerpt(repr(body))), status=200)
        return body

    def _as_list(self, body, function, keys, limit, what):
        """The body as a list of objects, each with at least one of ``keys`` (else it is not what was asked); at most
        ``limit`` of them (a note in ``cut_notes`` says how many more the phone sent)."""
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list) or not all(isinstance(item, dict) and any(key in item for key in keys)
                                                  for item in items):
            expected = 'a list of objects with %s' % ' or '.join('"%s"' % key for key in keys)
            raise self.reader.wrong_shape(function, expected, body)
        if len(items) > limit:
            self.cleaner.note('%s: kept the first %d of %d %s the phone listed' % (function, limit, len(items), what))
            items = items[:limit]
        return items

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
            raise self.reader.status_error('model.define.js', answer)
        try:
            text = answer.body.decode('utf-8-sig')
            found = self.cleaner.tree(load_json(text[text.index('{'):text.rindex('}') + 1])[0])
        except (UnicodeDecodeError, ValueError) as exc:
            nested = ' (nested too deeply)' if str(exc) == 'nested too deeply' else ''
            raise CTIError(self.connection.label, ERROR, 'the answer to %s is not JSON%s: %r.'
                           % (MODEL_PATH, nested, self.reader.excerpt(answer.body)), status=200, hint='')
        model = found.get('model') if isinstance(found, dict) else None
        if not isinstance(model, str) or not model.strip():
            raise self.reader.wrong_shape(MODEL_PATH, 'an object with a "model"', found)
        return model.strip()

    def login_facts(self):
        """Firmware, MAC and factory-password flag from the web login (logs in if needed on a web-session phone), or
        None for a passcode phone that has no web session in this task (its CTI dialect does not tell them)."""
        if self.connection.auth == AUTH_PASSCODE and self.web.sid is None:
            return None
        return self.web.start()

    # -- the web interface (settings) -----------------------------------------------------------

    def web_login(self):
        """Log in to the phone's web interface, whatever its CTI dialect (settings need it on every phone; cti-api.md
        section 6).  One login per client; returns the login facts."""
        return self.web.start()

    def web_probe(self, path):
        """The HTTP status of a GET of ``path`` without credentials (costs no lockout attempt)."""
        return self.web.probe(path)

    def web_request(self, what, method, path, **options):
        """One request to the web interface with the session id; see :meth:`cti_session.WebSession.request`."""
        return self.web.request(what, method, path, **options)

    # -- requests ------------------------------------------------------------------------------

    def call(self, function, params=None, command=False):
        """One CTI request; returns the JSON envelope of a ``success`` answer.

        Reads retry a quick transport failure once, and only when the request did not leave or the phone had
        already accepted the password (a lost answer may have been a wrong attempt counted); commands, logins,
        authentication failures and a phone that used up the whole timeout never retry.
        """
        attempts = 1 if command else 1 + self.read_retries
        for attempt in range(1, attempts + 1):
            try:
                return self._request_once(function, params or {})
            except CTIError as error:
                if error.error_class != UNREACHABLE or not error.retryable:
                    raise
                if error.request_sent and not self.password.proven and self.connection.auth == AUTH_PASSCODE:
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
            raise CTIError(conn.label, AUTH_FAILED, 'no passcode is set for the phone, so nothing was sent to it.',
                           details={'reason': 'no_passcode'})
        if conn.auth == AUTH_PASSCODE:
            self.password.before_sending()
            answer = self.password.sent(lambda: self._exchange('GET', conn.base_url + function, function,
                                                               params=dict(params, passcode=conn.passcode)))
            return self.password.answered(lambda: self.reader.classify(function, answer))
        web = self.web
        relogin = web.sid is not None
        web.start()
        answer = self._exchange('POST', conn.base_url + function, function, data=dict(params, sid=web.sid),
                                headers=web.headers())
        if answer.status == 401 and relogin:
            # The session expired, or a second login elsewhere replaced it: one new login, then fail for good.
            web.restart()
            answer = self._exchange('POST', conn.base_url + function, function, data=dict(params, sid=web.sid),
                                    headers=web.headers())
        if answer.status == 401:
            raise CTIError(conn.label, AUTH_FAILED, 'the phone refused the session for %s (HTTP 401) right after the login.'
                           % function, status=401, hint="The user %s may not use CTI (a user-role account?); an admin "
                           "account can." % conn.username)
        return self.reader.classify(function, answer)

    def _exchange(self, method, url, what, params=None, data=None, headers=None, max_body=None, json_body=None):
        conn = self.connection
        self.requests_sent += 1
        extra = {'json_body': json_body} if json_body is not None else {}
        try:
            return self.transport.exchange(method, url, conn.timeout, verify=conn.verify, params=params, data=data,
                                           headers=headers, max_body=max_body or self.max_body, **extra)
        except ExchangeFailed as failure:
            raise self.reader.transport_error(what, failure)

    def _secrets(self):
        return (self.connection.passcode, self.web.sid if hasattr(self, 'web') else None)
