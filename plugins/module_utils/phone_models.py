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


# How a family reads and writes its settings (cti-api.md section 6): the form dialect (api.values.get/post) or the JSON
# one (config_get / config_update).  GXP21xx changed with firmware 1.0.11.
FORM_SETTINGS, JSON_SETTINGS = 'form', 'json'
_SETTINGS_WIRE = {'GRP26xx': JSON_SETTINGS, 'WP8xx': JSON_SETTINGS, 'GXP16xx': FORM_SETTINGS, 'GXP17xx': FORM_SETTINGS,
                  'GSC35xx': FORM_SETTINGS}
_GXP21XX_JSON_FROM = (1, 0, 11)


def version_tuple(version):
    """``'1.0.7.81'`` -> (1, 0, 7, 81); None for anything that is not dotted numbers (never a guess)."""
    parts = str(version or '').strip().split('.')
    if not parts or not all(part.isdigit() and len(part) <= 6 for part in parts):
        return None
    return tuple(int(part) for part in parts)


def settings_wire(model, firmware=None):
    """``'form'`` or ``'json'`` when the model (and for GXP21xx the firmware) tells, else None (find out)."""
    family = family_of(model)
    if family == 'GXP21xx':
        version = version_tuple(firmware)
        return None if version is None else (JSON_SETTINGS if version[:3] >= _GXP21XX_JSON_FROM else FORM_SETTINGS)
    return _SETTINGS_WIRE.get(family)


# The firmware image a model fetches from its firmware server (cti-api.md section 8): ``<P192>/<P232><name><P233>``.
# Only the names Grandstream documents; any other model's is unknown (a warning, never a guess).  First match wins.
FIRMWARE_IMAGES = (
    ('GRP260[1-4]*', 'grp2600fw.bin'),   # GRP2601-2604
    ('GRP261*', 'grp2610fw.bin'),        # GRP2612-2616
    ('GXP16*', 'gxp1600fw.bin'),         # every GXP16xx
    ('GXP2170*', 'gxp2170fw.bin'),
    ('GXP2140*', 'gxp2140fw.bin'),
)

# The setting that picks the firmware protocol (0 TFTP, 1 HTTP, 2 HTTPS): P6767, or P212 on GXP21xx firmware older than
# 1.0.11, where P212 picks the configuration protocol and the firmware one together.
FIRMWARE_PROTOCOL = 'P6767'
FIRMWARE_AND_CONFIG_PROTOCOL = 'P212'


def firmware_image_name(model):
    """The file name of the model's firmware image (``'gxp1600fw.bin'``), or None when it is not documented."""
    if not model:
        return None
    name = str(model).strip().upper()
    return next((image for pattern, image in FIRMWARE_IMAGES if fnmatch.fnmatchcase(name, pattern)), None)


def firmware_protocol_key(model, firmware):
    """``'P6767'``, or ``'P212'`` on a GXP21xx below 1.0.11; None for a GXP21xx whose firmware does not tell."""
    if family_of(model) != 'GXP21xx':
        return FIRMWARE_PROTOCOL
    version = version_tuple(firmware)
    if version is None:
        return None
    return FIRMWARE_PROTOCOL if version[:3] >= _GXP21XX_JSON_FROM else FIRMWARE_AND_CONFIG_PROTOCOL
