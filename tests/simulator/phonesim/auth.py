"""How a simulated phone checks who is asking: the passcode dialect (cti-api.md section 1), the web-session dialect
(section 5: access, dologin, dologout, the sid cookie), wrong-attempt counting and the lockout."""

import collections
import hashlib
import math
import secrets
import string
import time

from .http_io import HTML_TYPE, html_page, json_bytes
from .profiles import login_template, recorded

NONCES_KEPT = 8          # outstanding access nonces (one per access call, each good for one dologin)
NONCE_LENGTH = 31
NONCE_ALPHABET = string.ascii_letters + string.digits


def sha256_hex(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def login_password(password, nonce):
    """What a ``session`` client posts to dologin as ``password``: sha256 hex of (password + nonce)."""
    return sha256_hex(password + nonce)


def cookie_value(headers, name):
    """The value of cookie ``name`` in the Cookie header, or None."""
    for item in headers.get('cookie', '').split(';'):
        key, sep, value = item.strip().partition('=')
        if sep and key == name:
            return value
    return None


class Session:
    __slots__ = ('user', 'role', 'last_used')

    def __init__(self, user, role, now):
        self.user = user
        self.role = role
        self.last_used = now


class PhoneAuth:
    """The credentials side of one phone. Runs on the event loop thread."""

    def __init__(self, phone):
        self.phone = phone
        self.wrong = 0            # consecutive wrong attempts (both dialects count the same way)
        self.locked_until = 0.0   # time.monotonic() until which the phone is locked
        self.default_auth = bool(phone.spec.default_password)
        self._nonces = collections.deque(maxlen=NONCES_KEPT)
        self._sessions = {}       # sid -> Session

    @property
    def locked(self):
        return time.monotonic() < self.locked_until

    @property
    def session_count(self):
        return len(self._sessions)

    def reset(self, cause='reboot'):
        """A reboot forgets the wrong attempts, the lock, the nonces and every session."""
        self.wrong = 0
        self.locked_until = 0.0
        self._nonces.clear()
        self._end_sessions(cause)

    def factory_reset(self):
        """After RESET the factory password is back: logins say ``defaultAuth: true``."""
        self.default_auth = True

    # ----- counting and the lockout (both dialects)

    def _lock_holds(self, now):
        """True while locked; an expired lock is cleared together with the count."""
        if self.locked_until:
            if now < self.locked_until:
                return True
            self.locked_until = 0.0
            self.wrong = 0
        return False

    def _count_wrong(self, now, function, reason):
        """Count one wrong attempt; return True when it locked the phone."""
        phone = self.phone
        self.wrong += 1
        phone._emit('auth_failed', function=function, reason=reason, count=self.wrong)
        if self.wrong >= int(phone.spec.lock_threshold):
            self.locked_until = now + phone.spec.lock_duration
            phone._emit('locked', seconds=phone.spec.lock_duration, lock_minutes=phone.spec.lock_minutes)
            return True
        return False

    def locked_answer(self, now, ctype):
        minutes = max(1, int(math.ceil((self.locked_until - now) / 60.0)))
        return 200, ctype, json_bytes({'response': 'error', 'body': 'locked', 'lockTime': minutes})

    def denied(self, ctype):
        """The answer to a CTI call without valid credentials: 401 HTML, or 200 ``unauthorized`` (auth_style body)."""
        if self.phone.spec.auth_style == 'body' or 'unauthorized_body' in self.phone.faults:
            return 200, ctype, json_bytes({'response': 'error', 'body': 'unauthorized'})
        return 401, HTML_TYPE, html_page(401, 'Unauthorized', 'Authentication required.')

    # ----- passcode dialect

    def authenticate(self, params, function, ctype):
        """Return (auth, denial): auth is ok | wrong | locked; denial is None or (status, ctype, body)."""
        now = time.monotonic()
        if self._lock_holds(now):
            return 'locked', self.locked_answer(now, ctype)
        given = params.get('passcode')
        if given is None and function == 'api-make_call':
            given = params.get('password')  # some GXP clients (cti-api.md section 1)
        if given is not None and given == self.phone.passcode:
            self.wrong = 0
            return 'ok', None
        if self._count_wrong(now, function, 'missing' if given is None else 'wrong'):
            return 'locked', self.locked_answer(now, ctype)
        return 'wrong', self.denied(ctype)

    # ----- web-session dialect

    def _session(self, sid, now):
        """The live session of ``sid``, or None; an expired one ends here (the phone notices on use)."""
        session = self._sessions.get(sid) if sid else None
        if session is None:
            return None
        if now - session.last_used > float(self.phone.spec.session_ttl):
            del self._sessions[sid]
            self.phone._emit('session_ended', user=session.user, cause='expired')
            return None
        return session

    def _end_sessions(self, cause, user=None):
        for sid, session in list(self._sessions.items()):
            if user is None or session.user == user:
                del self._sessions[sid]
                self.phone._emit('session_ended', user=session.user, cause=cause)

    def _request_sid(self, headers, params, now):
        """The sid of a live session named by the Cookie or by a ``sid`` parameter (query or form), or None."""
        for sid in (cookie_value(headers, 'sid'), params.get('sid')):
            if self._session(sid, now) is not None:
                return sid
        return None

    def session_of(self, headers, params):
        """The live Session a request names (Cookie or ``sid`` parameter), marked as used now; None without one."""
        now = time.monotonic()
        sid = self._request_sid(headers, params, now)
        if sid is None:
            return None
        session = self._sessions[sid]
        session.last_used = now
        return session

    def check_session(self, headers, params, ctype):
        """Return (auth, denial) for a CTI call on a session phone: ok, or no_session with the 401 answer."""
        now = time.monotonic()
        sid = self._request_sid(headers, params, now)
        if sid is None:
            return 'no_session', self.denied(ctype)
        self._sessions[sid].last_used = now
        return 'ok', None

    def access(self, params):
        """POST /cgi-bin/access: a fresh nonce for the next dologin (whatever user name hash comes)."""
        if not params.get('access'):
            return {'response': 'error', 'body': 'failed'}
        nonce = ''.join(secrets.choice(NONCE_ALPHABET) for dummy in range(NONCE_LENGTH))
        self._nonces.append(nonce)
        return {'response': 'success', 'body': nonce}

    def _password_matches(self, given):
        spec = self.phone.spec
        if given is None:
            return False
        if spec.auth == 'session_plain':
            return given == self.phone.passcode
        for nonce in list(self._nonces):
            if secrets.compare_digest(login_password(self.phone.passcode, nonce), given):
                self._nonces.remove(nonce)  # single use
                return True
        return False

    def login(self, params, ctype):
        """POST /cgi-bin/dologin; returns (auth, (status, ctype, body)), auth being ok | wrong | locked."""
        phone, spec = self.phone, self.phone.spec
        now = time.monotonic()
        user = params.get('username', '')
        if self._lock_holds(now):
            phone._emit('login', result='locked', user=user)
            return 'locked', self.locked_answer(now, ctype)
        given = params.get('password')
        if user != spec.username or not self._password_matches(given):
            if self._count_wrong(now, 'dologin', 'missing' if given is None else 'wrong'):
                phone._emit('login', result='locked', user=user)
                return 'locked', self.locked_answer(now, ctype)
            left = int(spec.lock_threshold) - self.wrong
            phone._emit('login', result='wrong', user=user, attempts_left=left)
            body = 'wrong%d' % left if spec.wrong_attempts_left else 'wrong'
            return 'wrong', (200, ctype, json_bytes({'response': 'error', 'body': body}))
        self.wrong = 0
        if spec.single_session:
            self._end_sessions('replaced', user=user)
        sid = secrets.token_hex(32)
        self._sessions[sid] = Session(user, spec.role, now)
        phone._emit('login', result='ok', user=user)
        body = recorded.render_like(login_template(phone.profile.folder), {
            'sid': sid, 'role': sha256_hex(spec.role + sid), 'ver': phone.version, 'mac': phone.mac,
            'defaultAuth': self.default_auth, 'defaultLogin': False})
        return 'ok', (200, ctype, json_bytes({'response': 'success', 'body': body}))

    def logout(self, headers, params):
        """POST /cgi-bin/dologout: ends the caller's session; answers success either way."""
        sid = self._request_sid(headers, params, time.monotonic())
        if sid is not None:
            session = self._sessions.pop(sid)
            self.phone._emit('logout', user=session.user)
        return {'response': 'success', 'body': 'logout'}
