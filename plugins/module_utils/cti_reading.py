# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a phone's answer means (cti-api.md section 4): one :class:`AnswerReader` per client turns an HTTP answer or
a transport failure into a clean JSON envelope or a :class:`CTIError` with its class and one sentence.

Every text a phone sent reaches a sentence or a result only through the reader's :class:`phone_text.TextCleaner`
(redacted, printable, bounded).

Python 3.8 syntax: module_utils may run on a jump host.
"""

import http.client
import json
import re
import socket
import ssl

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import (
    AUTH_FAILED, ERROR, FORBIDDEN, LOCKED, REJECTED, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import load_json

EXCERPT_LENGTH = 80
_WRONG_RE = re.compile(r'^wrong(\d*)$')
# A lock time is a number of minutes; anything else a phone puts there (text, a huge number) is not reported.
_MINUTES_RE = re.compile(r'^\s*(\d{1,6})(\.\d*)?\s*$')
# A web-session phone (WP8xx, newer GXP21xx) answers a ?passcode= request with an HTML 401 page whatever the password.
WRONG_DIALECT_HINT = ('An HTML 401 page is also what a web-session phone (WP8xx, newer GXP21xx firmware) answers to the '
                      'passcode dialect: if the password is right, set grandstream_auth: session for this phone. ')


class AnswerReader(object):
    """Reads the answers of one phone: ``label`` names it in sentences, ``cleaner`` cleans what it sent."""

    def __init__(self, label, cleaner, auth, username, timeout, max_body):
        self.label = label
        self.cleaner = cleaner
        self.auth = auth
        self.username = username
        self.timeout = timeout
        self.max_body = max_body

    def excerpt(self, raw):
        return self.cleaner.excerpt(raw, EXCERPT_LENGTH)

    # -- JSON ----------------------------------------------------------------------------

    def json(self, what, answer, object_limit=None, text_limit=None, collapse=True):
        """The clean JSON value of a 200 answer (any shape), or CTIError (class ``error``).  ``text_limit`` and
        ``collapse``: see TextCleaner.text (settings values keep their whitespace and may be longer)."""
        if answer.status != 200:
            raise self.status_error(what, answer)
        try:
            text = answer.body.decode('utf-8-sig')
            value, dummy = load_json(text) if object_limit is None else load_json(text, object_limit)
        except ValueError as exc:
            kind = self.cleaner.text((answer.content_type or 'no content type').split(';')[0].strip(), 40)
            nested = ' (%s)' % exc if str(exc) == 'nested too deeply' else ''
            raise CTIError(self.label, ERROR, 'the answer to %s is not CTI JSON (HTTP 200, %s)%s: %r.'
                           % (what, kind, nested, self.excerpt(answer.body)), status=200)
        if text_limit is None:
            return self.cleaner.tree(value, collapse=collapse)
        return self.cleaner.tree(value, text_limit=text_limit, collapse=collapse)

    def envelope(self, what, answer):
        """The JSON envelope ``{"response": "success"|"error", "body": ...}`` of a 200 answer, or CTIError."""
        envelope = self.json(what, answer)
        if not isinstance(envelope, dict) or envelope.get('response') not in ('success', 'error'):
            raise self.wrong_shape(what, 'a {"response": ..., "body": ...} object', envelope)
        return envelope

    def classify(self, what, answer):
        """The envelope of a ``success`` answer; every other answer as the CTIError of its class."""
        envelope = self.envelope(what, answer)
        if envelope['response'] == 'success':
            return envelope
        body = envelope.get('body')
        keyword = body.strip().lower() if isinstance(body, str) else None
        if keyword == 'unauthorized':
            raise CTIError(self.label, AUTH_FAILED, 'the phone rejected the passcode (answer "unauthorized").',
                           status=answer.status)
        if keyword == 'locked':
            raise self.locked(envelope, answer.status)
        if keyword == 'forbidden':
            raise CTIError(self.label, FORBIDDEN, 'CTI refused the request (answer "forbidden").', status=answer.status)
        raise CTIError(self.label, REJECTED, '%s was refused by the phone (answered %r).' % (what, self.excerpt(repr(body))),
                       status=answer.status)

    # -- the login answers -----------------------------------------------------------------

    def login_refusal(self, step, envelope, status):
        """The CTIError of a login step the phone refused (``wrong4``, ``locked``, anything else)."""
        body = envelope.get('body')
        keyword = body.strip().lower() if isinstance(body, str) else ''
        wrong = _WRONG_RE.match(keyword)
        if wrong:
            left = wrong.group(1)
            attempts = ('%s attempt%s left before the phone locks' % (left, '' if left == '1' else 's') if left
                        else 'the phone did not say how many attempts are left before it locks')
            return CTIError(self.label, AUTH_FAILED, 'the phone rejected the password of %s (%s).' % (self.username, attempts),
                            status=status, details={'attempts_left': int(left)} if left else None,
                            hint='Check the password (grandstream_passcode) and the user (grandstream_username). The '
                                 'login was not retried: five wrong passwords lock the phone.')
        if keyword == 'locked':
            return self.locked(envelope, status)
        return CTIError(self.label, REJECTED, 'the phone refused the %s step of the login (answered %r).'
                        % (step, self.excerpt(repr(body))), status=status)

    def locked(self, envelope, status):
        minutes = lock_minutes(envelope.get('lockTime'))
        extra = ' for %d more minutes' % minutes if minutes is not None else ''
        return CTIError(self.label, LOCKED, 'the phone is locked%s after repeated wrong passcodes.' % extra,
                        status=status, details={'lock_minutes': minutes} if minutes is not None else None)

    # -- everything that is not a 200 JSON answer -------------------------------------------

    def status_error(self, what, answer):
        if answer.status == 401:
            hint = None
            if self.auth == 'passcode' and 'html' in (answer.content_type or '').lower():
                hint = WRONG_DIALECT_HINT + 'Otherwise check the passcode (grandstream_passcode / GRANDSTREAM_PASSCODE). ' \
                                            'It was not retried: five wrong passcodes lock the phone.'
            return CTIError(self.label, AUTH_FAILED, 'the phone rejected the passcode (HTTP 401).', status=401, hint=hint)
        if answer.status == 403:
            return CTIError(self.label, FORBIDDEN, 'CTI refused the request (HTTP 403).', status=403)
        if answer.status == 404:
            return CTIError(self.label, ERROR, '%s is not supported by this phone (HTTP 404).' % what, status=404)
        return CTIError(self.label, ERROR, 'the phone answered HTTP %d to %s: %r.'
                        % (answer.status, what, self.excerpt(answer.body)), status=answer.status, hint='')

    def wrong_shape(self, what, expected, got):
        return CTIError(self.label, ERROR, 'the answer to %s is not %s: %r.' % (what, expected, self.excerpt(_compact(got))),
                        status=200)

    def transport_error(self, what, failure):
        exc = failure.cause
        if failure.too_big:
            return CTIError(self.label, ERROR, 'the answer to %s is larger than %d KiB, which no CTI answer is; it was not '
                            'read further.' % (what, self.max_body // 1024), hint='Is this a Grandstream phone?',
                            retryable=False)
        if failure.too_slow and failure.answered:
            return CTIError(self.label, UNREACHABLE, 'answered too slowly: no complete answer to %s within %g s.'
                            % (what, self.timeout), hint='A wedged web server or a Wi-Fi handset in power save; raise '
                            'timeout (grandstream_timeout) if it is just slow.', request_sent=True, retryable=False)
        if failure.too_slow:
            return CTIError(self.label, UNREACHABLE, 'did not answer %s within %g s.' % (what, self.timeout),
                            request_sent=failure.sent, retryable=False)
        if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
            return CTIError(self.label, ERROR, 'the TLS handshake failed (%s).' % self.short_cause(exc),
                            hint='Set validate_certs: false or ca_path to the CA that signed the phone certificate.',
                            request_sent=False, retryable=False)
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, http.client.RemoteDisconnected):
            return CTIError(self.label, ERROR, 'the answer to %s is not HTTP (%s).' % (what, type(exc).__name__),
                            hint='Is this the web port of a Grandstream phone?', request_sent=True, retryable=False)
        if not failure.sent:
            what_happened = 'could not be reached (%s)' % self.short_cause(exc)
        else:
            what_happened = 'dropped the connection during %s (%s)' % (what, self.short_cause(exc))
        return CTIError(self.label, UNREACHABLE, what_happened + '.', request_sent=failure.sent)

    def short_cause(self, exc):
        """A few words for the cause: 'connection refused', 'name not found', ... never the URL."""
        for item in exception_chain(exc):
            if isinstance(item, ConnectionRefusedError):
                return 'connection refused'
            if isinstance(item, ConnectionResetError):
                return 'connection reset'
            if isinstance(item, socket.gaierror):
                return 'name not found'
            if isinstance(item, http.client.RemoteDisconnected):
                return 'closed without an answer'
            if isinstance(item, OSError) and item.errno is not None and item.strerror:
                return self.cleaner.text(item.strerror.lower(), 60)
        text = re.sub(r'https?://\S+', '<url>', str(exc))
        return self.excerpt(text) or type(exc).__name__


def lock_minutes(value):
    """The minutes of a ``lockTime`` as an int, or None when it is not a plain number (never the text itself: a phone
    may put anything there, a passcode included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if 0 <= value < 1000000 else None
    match = _MINUTES_RE.match(str(value)) if isinstance(value, (str, float)) else None
    return int(match.group(1)) if match else None


def _compact(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def exception_chain(exc):
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
