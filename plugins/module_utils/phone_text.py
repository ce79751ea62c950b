# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text from a phone is hostile until cleaned: this file cleans it where it enters the collection.

Everything a phone sends (JSON answers, headers, HTML pages, login answers) passes through here before any other
code sees it, in this order:

1. parsed with bounds (:func:`load_json`): nesting, object count, non-finite and giant numbers never raise anything
   but ValueError, and the objects past a budget are dropped while parsing, so a 1 MiB answer of 31,000 accounts
   costs the memory of a few hundred;
2. redacted (the passcode, the session id, any passcode=/password=/sid= value), *before* it is cut, so that no cut
   leaves the first characters of a secret;
3. made printable: lone surrogates (valid JSON, not encodable as UTF-8), control characters (ESC, NUL, newlines),
   bidirectional overrides and other format characters become ``?`` (or a space for whitespace);
4. cut to a length, and what was cut is said.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import json
import math
import re

from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import Redactor, secret_forms

TEXT_LIMIT = 256          # characters of one string from a phone (a model, a SIP server, a status)
KEY_LIMIT = 64            # characters of one object key
DEPTH_LIMIT = 16          # nesting a CTI answer never needs
FIELD_LIMIT = 64          # keys of one object (an account has 6, a settings batch at most 50)
OBJECT_LIMIT = 2000       # JSON objects kept from one answer (the alias catalogue has ~2,600: it asks for more)
NUMBER_DIGITS = 30        # digits of a number kept as a number; a longer one is kept as text
CUT_MARK = '...'
# A secret shorter than this is redacted from a phone's text only where it stands alone (redaction.Redactor).
SHORT_SECRET = 6

_SPACES_RE = re.compile(' {2,}')


class _Cut(object):
    """Stands for an object dropped while parsing (past the object budget)."""

    __slots__ = ()

    def __repr__(self):
        return 'CUT'


CUT = _Cut()


def load_json(text, object_limit=OBJECT_LIMIT):
    """``json.loads`` for a phone's answer.  Raises ValueError only (never RecursionError, OverflowError...).

    Objects past ``object_limit`` become :data:`CUT` (and are freed at once); a number with more than
    NUMBER_DIGITS digits, NaN or an infinity stays its text; a number too large for a float (``1e400``) too.
    Returns ``(value, objects_seen)``.
    """
    seen = [0]

    def object_pairs(pairs):
        # Objects close inner first, so the envelope comes last: past the budget, an object that holds other values
        # (a list, an object, a cut one) is kept, a leaf is dropped.  Either way the body cap bounds the work.
        seen[0] += 1
        if seen[0] <= object_limit or any(isinstance(value, (list, dict, _Cut)) for dummy, value in pairs):
            return dict(pairs)
        return CUT

    def number(text_of_number):
        if len(text_of_number) > NUMBER_DIGITS:
            return text_of_number[:NUMBER_DIGITS] + CUT_MARK
        value = float(text_of_number)
        return value if math.isfinite(value) else text_of_number

    def integer(text_of_number):
        return int(text_of_number) if len(text_of_number) <= NUMBER_DIGITS else text_of_number[:NUMBER_DIGITS] + CUT_MARK

    try:
        value = json.loads(text, object_pairs_hook=object_pairs, parse_float=number, parse_int=integer,
                           parse_constant=lambda name: name)
    except RecursionError:
        raise ValueError('nested too deeply')
    except (TypeError, OverflowError, MemoryError) as exc:
        raise ValueError(type(exc).__name__)
    return value, seen[0]


def printable(text, keep=''):
    """``text`` with every character that is not printable replaced one for one: whitespace (newlines, tabs) by a
    space, anything else (control and format characters such as ESC, NUL or a bidirectional override, lone
    surrogates) by ``?``; the characters of ``keep`` (``'\n'`` for a multi-line value) stay.  One for one, so that a
    cut after it cuts where it would have cut before."""
    if text.isprintable():
        return text
    return ''.join(char if char.isprintable() or char in keep else (' ' if char.isspace() else '?') for char in text)


def _collapse(text):
    return _SPACES_RE.sub(' ', text).strip() if '  ' in text or text[:1] == ' ' or text[-1:] == ' ' else text


class TextCleaner(object):
    """Cleans the text of one phone's answers with that phone's secrets: redact, make printable, cut.

    ``secrets``: the passcode, the session id... (a callable returning them, read at each use: a login adds one).
    ``cut_notes``: sentences saying what was cut, for the task result or the report row.
    """

    def __init__(self, secrets=None):
        self._secrets = secrets or (lambda: ())
        self._redactor = None
        self._redactor_secrets = None
        self._forms = ()
        self.cut_notes = []

    def _prepare(self):
        secrets = tuple(secret for secret in self._secrets() if secret)
        if self._redactor is None or secrets != self._redactor_secrets:
            self._redactor, self._redactor_secrets = Redactor(secrets, whole_below=SHORT_SECRET), secrets
            self._forms = tuple(secret_forms(secrets))

    def _redact(self, text):
        return self._redactor.redact(text)

    def _plain(self, text, limit):
        """True for the common case that needs no work: short, printable, no ``=`` (no passcode=...) and no secret."""
        return (len(text) <= limit and '=' not in text and text.isprintable()
                and not any(form in text for form in self._forms))

    def text(self, value, limit=TEXT_LIMIT, collapse=True):
        """One string from a phone, clean: redacted, printable, at most ``limit`` characters (plus a cut mark).

        ``collapse``: runs of whitespace become one space (a name, a status); False keeps the text as it is, newlines
        included (a setting's value, a configuration file), only control characters replaced.
        The whole string is redacted before anything is cut or collapsed, so that no cut keeps the first characters
        of a secret (the answer itself is bounded by the body cap, so this is bounded work)."""
        self._prepare()
        return self._clean(value, limit, collapse)

    def _clean(self, value, limit, collapse):
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        if self._plain(text, limit):
            return _collapse(text) if collapse else text
        text = self._redact(text)
        cut = len(text) > limit
        text = printable(text[:limit], keep='' if collapse else '\n\t')  # one for one: cutting first is the same
        if collapse:
            text = _collapse(text)
        return text + CUT_MARK if cut else text

    def tree(self, value, text_limit=TEXT_LIMIT, item_limit=None, depth=0, collapse=True):
        if depth == 0:
            self._prepare()
        return self._tree(value, text_limit, item_limit, depth, collapse)

    def _tree(self, value, text_limit, item_limit, depth, collapse):
        """A parsed answer with every string (keys included) clean; lists longer than ``item_limit`` and CUT objects
        dropped, deeper levels than DEPTH_LIMIT dropped (with a note)."""
        if isinstance(value, str):
            return self._clean(value, text_limit, collapse)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if depth >= DEPTH_LIMIT:
            self.note('a value nested deeper than %d levels was dropped' % DEPTH_LIMIT)
            return None
        if isinstance(value, dict):
            items = list(value.items())
            if len(items) > FIELD_LIMIT:
                self.note('kept %d of %d fields of an object' % (FIELD_LIMIT, len(items)))
                items = items[:FIELD_LIMIT]
            return dict((self._clean(key, KEY_LIMIT, True), self._tree(item, text_limit, item_limit, depth + 1, collapse))
                        for key, item in items)
        if isinstance(value, list):
            kept = [item for item in value if item is not CUT]
            if item_limit is not None and len(kept) > item_limit:
                self.note('kept %d of %d items of a list' % (item_limit, len(value)))
                kept = kept[:item_limit]
            elif len(kept) < len(value):
                self.note('kept %d of %d items of a list (the answer holds more objects than any phone sends)'
                          % (len(kept), len(value)))
            return [self._tree(item, text_limit, item_limit, depth + 1, collapse) for item in kept]
        return None  # CUT outside a list

    def excerpt(self, raw, limit=80):
        """A short, clean excerpt of a body that is not what was expected (bytes or text), for an error sentence."""
        text = raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else str(raw)
        return self.text(text, limit)

    def note(self, sentence):
        if sentence not in self.cut_notes and len(self.cut_notes) < 10:
            self.cut_notes.append(sentence)
