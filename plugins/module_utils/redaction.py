# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection hides secrets (passcodes, session ids) in text.

Its own small file, not part of ``cti.py``: the CSV inventory plugin needs it too, and importing the
CTI client would cost every ``ansible-inventory`` run the import of the HTTP stack.

``redact(text, secrets)`` is for a few secrets (a phone's passcode and session id). A caller that redacts many
texts against the same secrets (the CSV inventory: every passcode of a 100,000-row file, in every problem message)
builds one ``Redactor(secrets)`` and calls its ``redact(text)``: the secrets are prepared once, and a text then
costs the same whether there are ten secrets or a million.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import re

try:
    from urllib.parse import quote, quote_plus
except ImportError:  # pragma: no cover - Python 2 is not supported, keep the import error readable
    quote = quote_plus = None

REDACTED = '********'

# A passcode, password or session id in a query string or form ("passcode=s3cret&..."), whatever its value.
_SECRET_PARAM_RE = re.compile(r'\b(passcode|password|sid)=[^&;\s\'"]*', re.IGNORECASE)

# Up to this many forms, each is looked for in the text (str.__contains__, C speed: fast for a long phone answer and
# a few secrets). Beyond it, the substrings of the text of each length a form has are looked up in the set of forms,
# which costs the text's length times the number of distinct lengths, whatever the number of forms.
_FEW_FORMS = 64


def secret_forms(secrets):
    """The strings that give a secret away: each secret as is and URL-encoded (%20 and + for a space)."""
    forms = set()
    for secret in secrets or ():
        if secret is None or secret == '':
            continue
        secret = str(secret)
        forms.update((secret, quote(secret, safe=''), quote_plus(secret, safe='')))
    return forms


class Redactor(object):
    """Hides a fixed set of secrets in any number of texts; build it once per set of secrets.

    Every occurrence of every form of every secret is replaced, and occurrences that overlap (a passcode that
    contains another one, or two that share characters) become one ``REDACTED``, so no piece of either is left.
    Then every passcode=/password=/sid= parameter value is replaced too.

    ``whole_below``: a form shorter than this is hidden only where it stands alone (not inside a longer run of
    letters and digits).  For text a phone sent: the GRP26xx user password defaults to ``123``, and starring it out
    of the SIP id ``1123`` would mangle the data and point at the password; a longer secret is hidden anywhere.
    """

    def __init__(self, secrets, whole_below=0):
        self._forms = frozenset(secret_forms(secrets))
        self._lengths = sorted(set(len(form) for form in self._forms), reverse=True)
        self._whole_below = whole_below

    def redact(self, text, limit=None):
        """``text`` without any of the secrets and without any passcode=/password=/sid= value.

        With ``limit``, a longer text is cut to its first ``limit`` characters (then '...'), after the secrets in them
        are hidden: a secret that starts before the cut is hidden whole, and the rest of the text costs nothing.
        None stays None; anything else becomes a string.
        """
        if text is None:
            return text
        text = str(text)
        shown = len(text)
        cut = limit is not None and shown > limit
        if cut:
            # an occurrence that starts in the first limit characters ends within the longest form after them
            shown = limit
            text = text[:limit + (self._lengths[0] if self._lengths else 0)]
        if self._forms:
            text = self._hide_forms(text, shown)
        else:
            text = text[:shown]
        text = _SECRET_PARAM_RE.sub(lambda match: '%s=%s' % (match.group(1), REDACTED), text)
        return text + '...' if cut else text

    def _forms_in(self, text):
        """The forms that occur in text."""
        if len(self._forms) <= _FEW_FORMS:
            return [form for form in self._forms if form in text]
        size = len(text)
        present = set()
        for length in self._lengths:
            if length <= size:
                present.update(self._forms.intersection([text[start:start + length] for start in range(size - length + 1)]))
        return present

    def _hide_forms(self, text, shown):
        """The first ``shown`` characters of text, with every occurrence of a form that starts among them hidden."""
        spans = []
        for form in self._forms_in(text):
            start = text.find(form)
            while 0 <= start < shown:
                end = start + len(form)
                if len(form) >= self._whole_below or not (_word_char(text, start - 1) or _word_char(text, end)):
                    spans.append((start, end))
                start = text.find(form, start + 1)
        spans.sort()
        hidden = []  # [start, end] of each stretch to hide, overlapping occurrences joined
        for start, end in spans:
            if hidden and start < hidden[-1][1]:
                hidden[-1][1] = max(hidden[-1][1], end)
            else:
                hidden.append([start, end])
        pieces, done = [], 0
        for start, end in hidden:
            pieces.extend((text[done:start], REDACTED))
            done = end
        pieces.append(text[done:shown])
        return ''.join(pieces)


def _word_char(text, index):
    return 0 <= index < len(text) and text[index].isalnum()


def redact(text, secrets):
    """``text`` without any of ``secrets`` (raw and URL-encoded) and without any passcode=/password=/sid= value.

    An occurrence of a secret that contains or overlaps another is hidden whole.
    None stays None; anything else becomes a string.
    """
    if text is None:
        return text
    return Redactor(secrets).redact(text)
