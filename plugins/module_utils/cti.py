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

import hashlib

from ansible_collections.phonefleet.grandstream.plugins.module_utils.credentials import GateClosed, refusal_memory
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
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import TextCleaner, load_json

# The names other files import from here.
__all__ = ['ACCOUNT_KEYS', 'LINE_IDLE', 'LINE_KEYS', 'accounts_summary', 'normalize_account', 'normalize_keys',
           'normalize_line', 'CTIClient', 'CTIConnection', 'CTIError', 'AUTH_PASSCODE', 'AUTH_SESSION',
           'AUTH_SESSION_PLAIN', 'DEFAULT_TIMEOUT', 'DEFAULT_USERNAME', 'AUTH_FAILED', 'ERROR', 'ERROR_CLASSES',
           'FORBIDDEN', 'HINTS', 'LOCKED', 'REJECTED', 'UNREACHABLE']

MODEL_PATH = '/json/configs/model.define.js'

# Where the client stands with its password: not sent yet; accepted by the phone (it may be sent again); sent
# without an answer (the phone may have counted a wrong attempt: never sent again by this client); refused.
UNTRIED, PROVEN, LOST, REFUSED = 'untried', 'proven', 'lost', 'refused'


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class CTIClient(object):
    """Speaks CTI to one phone.  Not thread-safe: use one client per phone and thread.

    A session-dialect client logs in on its first request and reuses the session for the others (one login per
    client), logs in again once when the phone answers 401 (the session expired, or a second login replaced it),
    and logs out in :meth:`close`.

    The password is never sent twice unless the phone accepted it: a refused login or passcode is never retried, a
    credential whose answer was lost (the connection dropped after it left) is not sent again, and a password this
    phone refused in an earlier run is not tried at all (``credentials.RefusalMemory``).  ``gate``: the
    ``credentials.CredentialGate`` of a fleet task.  ``proven``: the caller knows the phone accepts the password
    (the reboot watch of a phone that took the reboot command).
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
        self.login = None  # the web login's answer: {'ver', 'mac', 'defaultAuth', ...} (never the sid)
        self.login_role = None  # 'admin' or 'user' (the login answers sha256(role + sid)), None when unknown
        self._sid = None
        self.cleaner = TextCleaner(self._secrets)
        self.reader = AnswerReader(connection.label, self.cleaner, connection.auth, connection.username,
                                   connection.timeout, max_body)
        self._memory = memory
        self._gate = gate
        self._gate_key = None
        self._credential = PROVEN if proven else UNTRIED

    @property
    def cut_notes(self):
        """Sentences saying what was cut from the phone's answers (too many accounts, too long a string...)."""
        return list(self.cleaner.cut_notes)

    def close(self):
        if self._sid is not None:
            try:
                self._form('dologout', {})
            except CTIError:
                pass  # the phone forgets the session by itself; nothing more to do
            self._sid = None
        self._leave_gate()
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
        if self.connection.auth == AUTH_PASSCODE and self._sid is None:
            return None
        self._ensure_login()
        return dict(self.login)

    # -- the web interface (settings) -----------------------------------------------------------

    def web_login(self):
        """Log in to the phone's web interface, whatever its CTI dialect (settings need it on every phone; cti-api.md
        section 6): the session of a web-session phone, else a web login with the same password.  One login per
        client; returns the login facts."""
        self._ensure_login()
        return dict(self.login)

    def web_probe(self, path):
        """The HTTP status of a GET of ``path`` without credentials: what the phone offers, found out at no cost in
        lockout attempts."""
        return self._exchange('GET', self.connection.origin + path, path).status

    def web_request(self, what, method, path, params=None, data=None, json_body=None, object_limit=None, text=False,
                    text_limit=None):
        """One request to the web interface with the session id; the clean JSON answer (or the clean text when
        ``text``: a configuration file; strings keep their whitespace, at most ``text_limit`` characters each).  A
        session that expired (HTTP 401, or ``{"body": {"status": "session-expired"}}``) gets one new
        login, then the request again; any other answer but HTTP 200 is a CTIError."""
        self._ensure_login()
        answer = self._web_exchange(what, method, path, params, data, json_body)
        if self._session_ended(answer):
            self._sid = None
            self._login()
            answer = self._web_exchange(what, method, path, params, data, json_body)
        if self._session_ended(answer):
            raise CTIError(self.connection.label, AUTH_FAILED, 'the phone ended the web session for %s right after the '
                           'login.' % what, status=answer.status, hint='The user %s may not change settings (a user-role '
                           'account?); log in as admin.' % self.connection.username)
        if text:
            if answer.status != 200:
                raise self.reader.status_error(what, answer)
            return self.cleaner.text(answer.body.decode('utf-8', 'replace'), limit=self.max_body, collapse=False)
        return self.reader.json(what, answer, object_limit, text_limit=text_limit, collapse=False)

    def _web_exchange(self, what, method, path, params, data, json_body):
        params = dict(params or {})
        if method in ('GET', 'PUT'):
            params['sid'] = self._sid
        else:
            data = dict(data or {}, sid=self._sid)
        return self._exchange(method, self.connection.origin + path, what, params=params or None, data=data,
                              headers=self._session_headers(), json_body=json_body)

    @staticmethod
    def _session_ended(answer):
        if answer.status == 401:
            return True
        if answer.status != 200 or b'session-expired' not in answer.body[:200]:
            return False
        try:
            body = load_json(answer.body.decode('utf-8', 'replace'))[0]
        except ValueError:
            return False
        return isinstance(body, dict) and isinstance(body.get('body'), dict) and \
            body['body'].get('status') == 'session-expired'

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
                if error.request_sent and self._credential != PROVEN and self.connection.auth == AUTH_PASSCODE:
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
            self._before_credential()
            answer = self._credential_exchange('GET', conn.base_url + function, function,
                                               params=dict(params, passcode=conn.passcode))
            return self._credential_answer(lambda: self.reader.classify(function, answer))
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

    # -- the password: tried once, remembered when refused ----------------------------------------

    def _before_credential(self):
        """Raise instead of sending the password when it must not be sent (again)."""
        if self._credential == PROVEN:
            return
        conn = self.connection
        if self._credential == LOST:
            raise CTIError(conn.label, UNREACHABLE, 'its answer to the password was lost (the connection dropped after '
                           'the request left), so the password was not sent again in this task: the phone may have '
                           'counted a wrong attempt.', request_sent=False, retryable=False)
        if self._credential == REFUSED:
            raise CTIError(conn.label, AUTH_FAILED, 'the phone refused the password earlier in this task; it was not '
                           'sent again.')
        memory = self._refusals()
        if conn.retry_refused:
            memory.forget(conn)
        else:
            refused = memory.refused(conn)
            if refused is not None:
                raise CTIError(conn.label, AUTH_FAILED, 'not tried: this password was refused at %s (%s).'
                               % (refused['at'], refused['what'] or 'refused'),
                               hint='A refused password is never tried again on the same phone (five wrong ones lock '
                                    'it). Fix the password, or set grandstream_retry_refused: true to try it once more.',
                               details={'reason': 'refused_before', 'refused_at': refused['at']})
        if self._gate is not None and self._gate_key is None:
            key = self._gate.key(conn)
            try:
                self._gate.enter(key)
            except GateClosed as closed:
                raise CTIError(conn.label, AUTH_FAILED, 'not tried: the first %d phones of this task that use the same '
                               'password refused it (%s), so it was not tried on the others.'
                               % (len(closed.refusals), ', '.join(closed.refusals[:5])),
                               hint='Fix the password (grandstream_passcode / GRANDSTREAM_PASSCODE); the phones it was '
                                    'not tried on spent no attempt.', details={'reason': 'not_tried'})
            self._gate_key = key

    def _credential_exchange(self, method, url, what, **kwargs):
        """An exchange that carries the password: a lost answer means it may have been counted."""
        try:
            return self._exchange(method, url, what, **kwargs)
        except CTIError as error:
            if error.request_sent and self._credential != PROVEN:
                self._credential = LOST
            self._leave_gate()
            raise

    def _credential_answer(self, read):
        """``read()`` the answer to a request that carried the password, and learn from it."""
        try:
            result = read()
        except CTIError as error:
            if error.error_class == AUTH_FAILED and self._credential != PROVEN:
                self._refused(error)
            elif error.error_class == REJECTED:
                self._accepted()  # the phone looked at the command: the password was right
            else:
                self._leave_gate()
            raise
        self._accepted()
        return result

    def _accepted(self):
        self._credential = PROVEN
        if self._gate_key is not None:
            self._gate.accepted(self._gate_key)
            self._gate_key = None

    def _refused(self, error):
        self._credential = REFUSED
        self._refusals().remember(self.connection, error.reason.rstrip('.'))
        if self._gate_key is not None:
            self._gate.refused(self._gate_key, self.connection.label)
            self._gate_key = None

    def _leave_gate(self):
        if self._gate_key is not None:
            self._gate.undecided(self._gate_key)
            self._gate_key = None

    def _refusals(self):
        if self._memory is None:
            self._memory = refusal_memory()
        return self._memory

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
        if not conn.passcode:
            raise CTIError(conn.label, AUTH_FAILED, 'no passcode is set for the phone, so nothing was sent to it.',
                           details={'reason': 'no_passcode'})
        self._before_credential()
        nonce = None
        if conn.auth != AUTH_SESSION_PLAIN:
            try:
                nonce = self._login_step('access', {'access': _sha256(conn.username)}, carries_password=False)
            except CTIError as error:
                # A passcode phone without the nonce step is older firmware whose web login takes the plain password
                # (cti-api.md section 5): finding out cost no attempt, nothing with the password was sent.
                if not (conn.auth == AUTH_PASSCODE and error.status == 404):
                    self._leave_gate()
                    raise
            else:
                if not isinstance(nonce, str) or not nonce:
                    self._leave_gate()
                    raise self.reader.wrong_shape('/cgi-bin/access', 'a nonce string', nonce)
        password = _sha256(conn.passcode + nonce) if nonce is not None else conn.passcode
        body = self._login_step('dologin', {'username': conn.username, 'password': password}, carries_password=True)
        if not isinstance(body, dict) or not isinstance(body.get('sid'), str) or not body['sid']:
            raise self.reader.wrong_shape('/cgi-bin/dologin', 'an object with a "sid"', body if not isinstance(body, dict)
                                          else dict((key, value) for key, value in body.items() if key != 'sid'))
        self._sid = body['sid']
        self.login = dict((key, value) for key, value in body.items() if key not in ('sid', 'role'))
        role = body.get('role')
        self.login_role = next((name for name in ('admin', 'user') if role == _sha256(name + self._sid)), None)

    def _login_step(self, step, form, carries_password):
        """POST one login form; returns the body of a success answer.  Never retried."""
        if carries_password:
            answer = self._credential_exchange('POST', self.connection.base_url + step, '/cgi-bin/' + step, data=dict(form),
                                               headers=self._session_headers())

            def read():
                self._login_not_found(step, answer)
                envelope = self.reader.envelope(step, answer)
                if envelope['response'] != 'success':
                    raise self.reader.login_refusal(step, envelope, answer.status)
                return envelope

            return self._credential_answer(read).get('body')
        answer = self._form(step, form)
        envelope = self.reader.envelope(step, answer)
        if envelope['response'] != 'success':
            raise self.reader.login_refusal(step, envelope, answer.status)
        return envelope.get('body')

    def _form(self, step, form):
        data = dict(form)
        if self._sid is not None and step == 'dologout':
            data['sid'] = self._sid
        answer = self._exchange('POST', self.connection.base_url + step, '/cgi-bin/' + step, data=data,
                                headers=self._session_headers())
        return self._login_not_found(step, answer)

    def _login_not_found(self, step, answer):
        if answer.status == 404 and step in ('access', 'dologin'):
            hint = ('Does it speak the passcode dialect? Set grandstream_auth: passcode.' if self.connection.auth != AUTH_PASSCODE
                    else 'Settings need the web login (cti-api.md section 6); this model or firmware does not offer it.')
            raise CTIError(self.connection.label, ERROR, 'the phone has no web-session login (/cgi-bin/%s answered HTTP '
                           '404).' % step, status=404, hint=hint)
        return answer

    def _secrets(self):
        return (self.connection.passcode, self._sid)
