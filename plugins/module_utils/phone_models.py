# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection knows per model family, in one table (cti-api.md sections 5, 6 and 8).

Model names are what ``/json/configs/model.define.js`` says (``GRP2614``, ``WP826``, ``GXP1628``).  A family not
in the table is unknown: callers say so instead of guessing.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import fnmatch

# family -> (model patterns, the CTI dialect its firmware speaks: passcode | session | None when it depends on the
# firmware).  First match wins.
FAMILIES = (
    ('GRP26xx', ('GRP26*',), 'passcode'),
    ('WP8xx', ('WP8*',), 'session'),
    ('GXP16xx', ('GXP16*',), 'passcode'),
    ('GXP17xx', ('GXP17*',), 'passcode'),
    ('GXP21xx', ('GXP21*',), None),       # older firmware: passcode; newer: the web session
    ('GSC35xx', ('GSC35*',), 'passcode'),
)


def family_of(model):
    """The family name of a model (``'WP8xx'``), or None when the collection does not know it."""
    if not model:
        return None
    name = str(model).strip().upper()
    for family, patterns, dummy in FAMILIES:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return family
    return None


def cti_dialect_of(model):
    """``'passcode'`` or ``'session'`` when every firmware of the model's family speaks it, else None."""
    family = family_of(model)
    return next((dialect for name, dummy, dialect in FAMILIES if name == family), None)
