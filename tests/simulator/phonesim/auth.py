"""How a simulated phone checks who is asking: the passcode dialect, wrong-attempt counting and the lockout."""

import math
import time

from .http_io import HTML_TYPE, html_page, json_bytes


class PhoneAuth:
    """The credentials side of one phone. Runs on the event loop thread."""

    def __init__(self, phone):
        self.phone = phone
        self.wrong = 0            # consecutive wrong attempts
        self.locked_until = 0.0   # time.monotonic() until which the phone is locked

    @property
    def locked(self):
        return time.monotonic() < self.locked_until

    def reset(self):
        """A reboot forgets the wrong attempts and the lock."""
        self.wrong = 0
        self.locked_until = 0.0

    def authenticate(self, params, function, ctype):
        """Return (auth, denial): auth is ok | wrong | locked; denial is None or (status, ctype, body)."""
        phone = self.phone
        now = time.monotonic()
        if self.locked_until:
            if now < self.locked_until:
                return 'locked', self.locked_answer(now, ctype)
            self.locked_until = 0.0
            self.wrong = 0
        given = params.get('passcode')
        if given is None and function == 'api-make_call':
            given = params.get('password')  # some GXP clients (cti-api.md section 1)
        if given is not None and given == phone.passcode:
            self.wrong = 0
            return 'ok', None
        self.wrong += 1
        phone._emit('auth_failed', function=function, reason='missing' if given is None else 'wrong', count=self.wrong)
        if self.wrong >= int(phone.spec.lock_threshold):
            self.locked_until = now + phone.spec.lock_duration
            phone._emit('locked', seconds=phone.spec.lock_duration, lock_minutes=phone.spec.lock_minutes)
            return 'locked', self.locked_answer(now, ctype)
        if phone.spec.auth_style == 'body' or 'unauthorized_body' in phone.faults:
            return 'wrong', (200, ctype, json_bytes({'response': 'error', 'body': 'unauthorized'}))
        return 'wrong', (401, HTML_TYPE, html_page(401, 'Unauthorized', 'Authentication required.'))

    def locked_answer(self, now, ctype):
        minutes = max(1, int(math.ceil((self.locked_until - now) / 60.0)))
        return 200, ctype, json_bytes({'response': 'error', 'body': 'locked', 'lockTime': minutes})
