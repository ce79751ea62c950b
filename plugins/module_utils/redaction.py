# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the collection hides secrets (passcodes, session ids) in text.

Its own small file, not part of ``cti.py``: the CSV inventory plugin needs it too, and importing the
CTI client would cost every ``ansible-inventory`` run the import of the HTTP stack.

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


def redact(text, secrets):
    """``text`` without any of ``secrets`` (raw and URL-encoded) and without any passcode=/password=/sid= value.

    The longest secret goes first, so that a passcode containing another one is hidden whole.
    None stays None; anything else becomes a string.
    """
    if text is None:
        return text
    text = str(text)
    forms = set()
    for secret in secrets or ():
        if secret is None or secret == '':
            continue
        secret = str(secret)
        forms.update((secret, quote(secret, safe=''), quote_plus(secret, safe='')))
    for form in sorted(forms, key=lambda item: (-len(item), item)):
        if form in text:
            text = text.replace(form, REDACTED)
    return _SECRET_PARAM_RE.sub(lambda match: '%s=%s' % (match.group(1), REDACTED), text)


class Redactor(object):
    """:func:`redact` for one set of secrets, prepared once: one pass of one pattern over the text, however many
    secrets (a fleet's passcodes, a client's passcode and session id).

    ``whole_below``: a secret shorter than this is hidden only where it stands alone (not inside a longer run of
    letters and digits).  For text a phone sent: the GRP26xx user password defaults to ``123``, and starring it out
    of the SIP id ``1123`` would mangle the data and point at the password; a longer secret is hidden anywhere.
    """

    def __init__(self, secrets, whole_below=0):
        forms = set()
        for secret in secrets or ():
            if secret is None or secret == '':
                continue
            secret = str(secret)
            forms.update((secret, quote(secret, safe=''), quote_plus(secret, safe='')))
        # At one position the first alternative that matches wins: the longest first, as in redact().
        ordered = sorted(forms, key=lambda item: (-len(item), item))
        alternatives = [re.escape(form) if len(form) >= whole_below else r'(?<![A-Za-z0-9])%s(?![A-Za-z0-9])' % re.escape(form)
                        for form in ordered]
        self._pattern = re.compile('|'.join(alternatives)) if alternatives else None

    def redact(self, text):
        if text is None:
            return text
        text = str(text)
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _SECRET_PARAM_RE.sub(lambda match: '%s=%s' % (match.group(1), REDACTED), text)
