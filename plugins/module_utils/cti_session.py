# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A phone's web login and the requests made with its session id (cti-api.md sections 5 and 6): :class:`WebSession`.

Every phone has the web login: the session dialects (WP8xx, newer GXP21xx) use its session for CTI, and settings need
it on every phone, also on phones whose CTI requests carry ``?passcode=`` (the same password logs in).  The flavour
comes from the nonce step: a phone that answers it gets the SHA-256 of password and nonce, a passcode-dialect phone
without it (older GXP firmware) the plain password, as does ``session_plain``.  The password itself goes out only
through the client's :class:`credentials.PasswordGuard`.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import hashlib

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_connection import (
    AUTH_PASSCODE, AUTH_SESSION_PLAIN,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import AUTH_FAILED, ERROR, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import load_json

ROLES = ('admin', 'user')


def sha256_hex(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class WebSession(object):
    """The web session of one phone in one client: at most one login, one more when the phone ended the session, a
    logout at the end.  ``exchange``, ``reader``, ``password`` and ``cleaner`` are the client's."""

    def __init__(self, connection, exchange, reader, password, cleaner):
        self.connection = connection
        self._exchange = exchange
        self._reader = reader
        self._password = password
        self._cleaner = cleaner
        self.sid = None
        self.login = None   # the login's answer ({'ver', 'mac', 'defaultAuth', ...}), never the sid or the role hash
        self.role = None    # 'admin' or 'user', None when the answer does not tell

    # -- the login ---------------------------------------------------------------------------

    def start(self):
        """Log in unless logged in; returns a copy of the login facts."""
        if self.sid is None:
            self._log_in()
        return dict(self.login)

    def restart(self):
        """The phone ended the session (it expired, a second login replaced it): log in once more."""
        self.sid = None
        self._log_in()

    def end(self):
        if self.sid is not None:
            try:
                self._form('dologout', {})
            except CTIError:
                pass  # the phone forgets the session by itself; nothing more to do
            self.sid = None

    def headers(self):
        origin = self.connection.origin
        headers = {'Origin': origin, 'Referer': origin + '/'}
        if self.sid is not None:
            headers['Cookie'] = 'sid=%s' % self.sid
        return headers

    def _log_in(self):
        conn = self.connection
        if not conn.passcode:
            raise CTIError(conn.label, AUTH_FAILED, 'no passcode is set for the phone, so nothing was sent to it.',
                           details={'reason': 'no_passcode'})
        self._password.before_sending()
        nonce = None
        if conn.auth != AUTH_SESSION_PLAIN:
            try:
                nonce = self._step('access', {'access': sha256_hex(conn.username)}, carries_password=False)
            except CTIError as error:
                # A passcode phone without the nonce step is older firmware whose web login takes the plain password
                # (cti-api.md section 5): finding out cost no attempt, nothing with the password was sent.
                if not (conn.auth == AUTH_PASSCODE and error.status == 404):
                    self._password.leave()
                    raise
            else:
                if not isinstance(nonce, str) or not nonce:
                    self._password.leave()
                    raise self._reader.wrong_shape('/cgi-bin/access', 'a nonce string', nonce)
        password = sha256_hex(conn.passcode + nonce) if nonce is not None else conn.passcode
        body = self._step('dologin', {'username': conn.username, 'password': password}, carries_password=True)
        if not isinstance(body, dict) or not isinstance(body.get('sid'), str) or not body['sid']:
            raise self._reader.wrong_shape('/cgi-bin/dologin', 'an object with a "sid"', body if not isinstance(body, dict)
                                           else dict((key, value) for key, value in body.items() if key != 'sid'))
        self.sid = body['sid']
        self.login = dict((key, value) for key, value in body.items() if key not in ('sid', 'role'))
        self.role = next((name for name in ROLES if body.get('role') == sha256_hex(name + self.sid)), None)

    def _step(self, step, form, carries_password):
        """POST one login form; returns the body of a success answer.  Never retried."""
        if not carries_password:
            answer = self._form(step, form)
            envelope = self._reader.envelope(step, answer)
            if envelope['response'] != 'success':
                raise self._reader.login_refusal(step, envelope, answer.status)
            return envelope.get('body')
        answer = self._password.sent(lambda: self._exchange('POST', self.connection.base_url + step, '/cgi-bin/' + step,
                                                            data=dict(form), headers=self.headers()))

        def read():
            self._not_found(step, answer)
            envelope = self._reader.envelope(step, answer)
            if envelope['response'] != 'success':
                raise self._reader.login_refusal(step, envelope, answer.status)
            return envelope

        return self._password.answered(read).get('body')

    def _form(self, step, form):
        data = dict(form)
        if self.sid is not None and step == 'dologout':
            data['sid'] = self.sid
        answer = self._exchange('POST', self.connection.base_url + step, '/cgi-bin/' + step, data=data,
                                headers=self.headers())
        return self._not_found(step, answer)

    def _not_found(self, step, answer):
        if answer.status == 404 and step in ('access', 'dologin'):
            hint = ('Does it speak the passcode dialect? Set grandstream_auth: passcode.' if self.connection.auth != AUTH_PASSCODE
                    else 'Settings need the web login (cti-api.md section 6); this model or firmware does not offer it.')
            raise CTIError(self.connection.label, ERROR, 'the phone has no web-session login (/cgi-bin/%s answered HTTP '
                           '404).' % step, status=404, hint=hint)
        return answer

    # -- requests with the session -----------------------------------------------------------

    def probe(self, path):
        """The HTTP status of a GET of ``path`` without credentials: what the phone offers, found out at no cost in
        lockout attempts."""
        return self._exchange('GET', self.connection.origin + path, path).status

    def request(self, what, method, path, params=None, data=None, json_body=None, object_limit=None, text=False,
                text_limit=None):
        """One request to the web interface with the session id; the clean JSON answer (or the clean text when
        ``text``: a configuration file; strings keep their whitespace, at most ``text_limit`` characters each).  A
        session that expired (HTTP 401, or ``{"body": {"status": "session-expired"}}``) gets one new login, then the
        request again; any other answer but HTTP 200 is a CTIError."""
        self.start()
        answer = self._send(what, method, path, params, data, json_body)
        if _session_ended(answer):
            self.restart()
            answer = self._send(what, method, path, params, data, json_body)
        if _session_ended(answer):
            raise CTIError(self.connection.label, AUTH_FAILED, 'the phone ended the web session for %s right after the '
                           'login.' % what, status=answer.status, hint='The user %s may not change settings (a user-role '
                           'account?); log in as admin.' % self.connection.username)
        if text:
            if answer.status != 200:
                raise self._reader.status_error(what, answer)
            # CRLF line ends are one line end (the cleaner would make the CR a space at the end of every value).
            body = answer.body.decode('utf-8', 'replace').replace('\r\n', '\n')
            return self._cleaner.text(body, limit=len(answer.body) + 1, collapse=False)
        return self._reader.json(what, answer, object_limit, text_limit=text_limit, collapse=False)

    def _send(self, what, method, path, params, data, json_body):
        params = dict(params or {})
        if method in ('GET', 'PUT'):
            params['sid'] = self.sid
        else:
            data = dict(data or {}, sid=self.sid)
        return self._exchange(method, self.connection.origin + path, what, params=params or None, data=data,
                              headers=self.headers(), json_body=json_body)


def _session_ended(answer):
    if answer.status == 401:
        return True
    if answer.status != 200 or b'session-expired' not in answer.body[:200]:
        return False
    try:
        body = load_json(answer.body.decode('utf-8', 'replace'))[0]
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get('body'), dict) and body['body'].get('status') == 'session-expired'
