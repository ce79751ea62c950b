# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firmware compliance: does a phone's firmware reach the minimum version set for its model?

The audit's option ``firmware_minimum`` maps model patterns to minimum versions, for example
``{"GXP16*": "1.0.7.81", "GRP26*": "1.0.5.67"}`` (GXP16xx below 1.0.7.81 are open to CVE-2026-2329).  Patterns are
shell-style and case-insensitive; the first one that matches the model, in the order written, applies.  Versions
compare as dotted numbers (``1.0.10.1`` is above ``1.0.9.99``; missing parts count as 0).  A firmware string that
is not a dotted number is never guessed at: its verdict is unknown, and the raw string is kept.
"""

import fnmatch
import re

COMPLIANT = 'compliant'   # at or above the minimum for its model
OUTDATED = 'outdated'     # below the minimum
UNKNOWN = 'unknown'       # a minimum applies (or may), but the model or the firmware is unknown or does not parse
NO_RULE = 'no_rule'       # no pattern matches the model: not judged
NOT_CHECKED = 'not_checked'  # no firmware_minimum was given
FIRMWARE_STATUSES = (COMPLIANT, OUTDATED, UNKNOWN, NO_RULE, NOT_CHECKED)

_VERSION_RE = re.compile(r'^\d+(\.\d+)*$')


def parse_version(text):
    """``'1.0.7.81'`` -> ``(1, 0, 7, 81)``; None when the text is not a dotted number."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not _VERSION_RE.match(text):
        return None
    return tuple(int(part) for part in text.split('.'))


def compare_versions(left, right):
    """-1, 0 or 1, with the shorter version padded with zeros (``1.0`` == ``1.0.0``)."""
    length = max(len(left), len(right))
    left, right = left + (0,) * (length - len(left)), right + (0,) * (length - len(right))
    return (left > right) - (left < right)


class FirmwarePolicy(object):
    """The minimum firmware per model pattern.  Raises ValueError for a minimum that is not a dotted number."""

    def __init__(self, minimums=None):
        self.rules = []
        for pattern, minimum in (minimums or {}).items():
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError('firmware_minimum: a model pattern must be a non-empty string, not %r' % (pattern,))
            parsed = parse_version(str(minimum))
            if parsed is None:
                raise ValueError('firmware_minimum: the minimum for %s must be a dotted version like 1.0.7.81, not %r'
                                 % (pattern, minimum))
            self.rules.append((pattern.strip(), str(minimum).strip(), parsed))

    def __bool__(self):
        return bool(self.rules)

    def rule_for(self, model):
        """(pattern, minimum text, minimum version) of the first pattern that matches ``model``, or None."""
        if not model:
            return None
        for pattern, text, version in self.rules:
            if fnmatch.fnmatchcase(model.upper(), pattern.upper()):
                return pattern, text, version
        return None

    def verdict(self, model, firmware):
        """``{'firmware_status', 'firmware_compliant' (True/False/None), 'firmware_minimum', 'firmware_reason'}``."""
        if not self.rules:
            return _verdict(NOT_CHECKED, None, None, None)
        if not model:
            return _verdict(UNKNOWN, None, None, 'the model is unknown, so no minimum firmware can be chosen')
        rule = self.rule_for(model)
        if rule is None:
            return _verdict(NO_RULE, None, None, 'no firmware_minimum pattern matches the model %s' % model)
        pattern, minimum, minimum_version = rule
        if firmware is None or firmware == '':
            return _verdict(UNKNOWN, None, minimum, 'the firmware is unknown (%s needs at least %s)' % (pattern, minimum))
        version = parse_version(firmware)
        if version is None:
            return _verdict(UNKNOWN, None, minimum, 'the firmware %r is not a dotted version, so it cannot be compared with '
                            'the minimum %s for %s' % (firmware, minimum, pattern))
        if compare_versions(version, minimum_version) < 0:
            return _verdict(OUTDATED, False, minimum, 'firmware %s is below the minimum %s for %s' % (firmware, minimum, pattern))
        return _verdict(COMPLIANT, True, minimum, None)


def _verdict(status, compliant, minimum, reason):
    return {'firmware_status': status, 'firmware_compliant': compliant, 'firmware_minimum': minimum, 'firmware_reason': reason}
