# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error classes of cti-api.md section 4 and :class:`CTIError`: the one owner of that vocabulary.

Reports, ledgers, modules and tests import these names (``cti`` re-exports them); nothing retypes the strings.

Python 3.8 syntax: module_utils may run on a jump host.
"""

UNREACHABLE = 'unreachable'
AUTH_FAILED = 'auth_failed'
LOCKED = 'locked'
FORBIDDEN = 'forbidden'
ERROR = 'error'
REJECTED = 'rejected'
ERROR_CLASSES = (UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR, REJECTED)

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


class CTIError(Exception):
    """A CTI request failed.  ``error_class`` is one of ERROR_CLASSES.

    ``str(error)`` is one sentence an admin understands, naming the phone; it never contains the passcode or a
    session id, and holds only printable text (whatever a phone sent was cleaned before it got here).
    ``details``: fields for a result or a report row (``lock_minutes``, ``attempts_left``, ``refused_at``...).
    """

    def __init__(self, phone, error_class, message, status=None, hint=None, details=None, request_sent=None,
                 retryable=True):
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
