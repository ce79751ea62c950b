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
