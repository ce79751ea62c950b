# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a phone's security settings mean, per model family: one table, each row with its source.

A setting's P-number and polarity can differ by line (cti-api.md section 6): P1650 ``0`` is HTTPS on GRP/GXP phones
but plain HTTP on the WP8xx line; P276 is "Disable SSH" on GRP/GXP (``0``: SSH on) and the other way round on WP8xx.
The posture checks (``audit_posture.py``) never read a value without this table: a family it has no row for, a value
a row does not list, or a row that depends on a firmware the phone did not tell, is *unknown*, with the reason.

Sources use cti-api.md's confidence marks: **doc** (Grandstream's CTI guide and provisioning templates), **peer**
(what working public clients and the recordings in tests/fixtures assume; no Grandstream document).  docs/posture.md
shows this table to people.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import family_of, version_tuple

# What a value means.
ON, OFF = 'on', 'off'
HTTP, HTTPS, HTTP_AND_HTTPS, TFTP = 'http', 'https', 'http_and_https', 'tftp'

GRP_GXP = ('GRP26xx', 'GXP16xx', 'GXP17xx', 'GXP21xx')
# GSC35xx shares the CTI guide and the provisioning keys, but no source gives its P1650 or P276 polarity.
EVERY_LINE = GRP_GXP + ('WP8xx', 'GSC35xx')
# Older GXP21xx firmware has no P6767: P212 picks the firmware protocol too (cti-api.md section 8).
GXP21XX_P6767_FROM = (1, 0, 11)

_PROTOCOLS = {'0': TFTP, '1': HTTP, '2': HTTPS}
_SWITCH = {'0': OFF, '1': ON}


class Row(object):
    """One line of the table: on ``families`` (and, when set, firmware below ``firmware_below``), the setting is
    ``key`` and its values mean ``meanings`` (None: free text, such as an address list); ``source`` says who says so."""

    __slots__ = ('families', 'key', 'meanings', 'source', 'firmware_below')

    def __init__(self, families, key, meanings, source, firmware_below=None):
        self.families = tuple(families)
        self.key = key
        self.meanings = dict(meanings) if meanings is not None else None
        self.source = source
        self.firmware_below = firmware_below


# setting -> rows, first match wins.
TABLE = {
    'web_access': (
        Row(GRP_GXP, 'P1650', {'0': HTTPS, '1': HTTP, '2': HTTP_AND_HTTPS},
            'doc: Grandstream provisioning templates for GRP/GXP (cti-api.md sections 6 and 9)'),
        Row(('WP8xx',), 'P1650', {'0': HTTP, '1': HTTPS, '2': HTTP_AND_HTTPS},
            'doc: the WP820 provisioning template, 0 = HTTP (cti-api.md section 6)'),
    ),
    'ssh': (
        Row(GRP_GXP, 'P276', {'0': ON, '1': OFF},
            'doc: templates, P276 is "Disable SSH" (0 = SSH on; its alias security.ssh.enable reads inverted)'),
        Row(('WP8xx',), 'P276', {'0': OFF, '1': ON},
            'peer: the WP8xx line has the opposite polarity (recordings WP826_1.0.3.35); no Grandstream document'),
    ),
    'action_uri': (
        Row(EVERY_LINE, 'P32050', _SWITCH, 'doc: CTI guide, "Action URI Support" (cti-api.md sections 1 and 9)'),
    ),
    'action_uri_allowed': (
        Row(EVERY_LINE, 'P32052', None, 'doc: CTI guide, "Action URI Allowed IP List", empty or any = everyone'),
    ),
    'tr069': (
        Row(EVERY_LINE, 'P1409', _SWITCH, 'doc: templates, TR-069 enable (cti-api.md section 9)'),
    ),
    'tr069_acs': (
        Row(EVERY_LINE, 'P4503', None, 'doc: templates, the ACS URL (cti-api.md section 9)'),
    ),
    'firmware_protocol': (
        Row(('GXP21xx',), 'P212', _PROTOCOLS, 'doc: on GXP21xx below 1.0.11 P212 picks the firmware protocol too '
            '(cti-api.md section 8)', firmware_below=GXP21XX_P6767_FROM),
        Row(EVERY_LINE, 'P6767', _PROTOCOLS, 'doc: 0 TFTP, 1 HTTP, 2 HTTPS (cti-api.md section 8)'),
    ),
    'config_protocol': (
        Row(EVERY_LINE, 'P212', _PROTOCOLS, 'doc: 0 TFTP, 1 HTTP, 2 HTTPS (cti-api.md sections 8 and 9)'),
    ),
    'config_auth': (
        Row(EVERY_LINE, 'P240', _SWITCH, 'doc: templates, config file authentication (cti-api.md section 9)'),
    ),
}

# Read in the same request, for a phone whose model.define.js or login answer did not tell them.
MODEL_KEY, FIRMWARE_KEY = 'P89', 'P68'
KEYS = tuple(sorted(set(row.key for rows in TABLE.values() for row in rows)) + [FIRMWARE_KEY, MODEL_KEY])
VALUE_SHOWN_MAX = 40


class Reading(object):
    """What one setting of one phone says: ``key`` and ``value`` as read, ``meaning`` (a word of the table, or the text
    of a free-text setting) and ``unknown`` (why the collection cannot tell, else None)."""

    __slots__ = ('setting', 'key', 'value', 'meaning', 'unknown', 'source')

    def __init__(self, setting, key=None, value=None, meaning=None, unknown=None, source=None):
        self.setting, self.key, self.value, self.meaning, self.unknown, self.source = setting, key, value, meaning, unknown, source

    def shown(self):
        """``P1650 = 1`` for a sentence (the value bounded and on one line)."""
        return '%s = %s' % (self.key, shown_value(self.value))


def shown_value(value):
    text = ' '.join(str(value).split()) if value is not None else ''
    if len(text) > VALUE_SHOWN_MAX:
        text = text[:VALUE_SHOWN_MAX - 3] + '...'
    return repr(text) if text in ('',) or ' ' in text else text


def row_for(setting, model, firmware):
    """(row, None) of the table for the phone, or (None, why the collection cannot tell)."""
    if not model:
        return None, 'the model is unknown, so what its settings mean is unknown'
    family = family_of(model)
    if family is None:
        return None, 'the collection has no table for the model %s (known lines: %s)' % (
            shown_value(model), ', '.join(EVERY_LINE))
    for row in TABLE[setting]:
        if family not in row.families:
            continue
        if row.firmware_below is not None:
            version = version_tuple(firmware)
            if version is None:
                return None, ('on %s which key holds it depends on the firmware (%s below %s), and the firmware is unknown'
                              % (family, row.key, '.'.join(str(part) for part in row.firmware_below)))
            if version[:len(row.firmware_below)] >= row.firmware_below:
                continue
        return row, None
    return None, 'no source gives what it means on the %s line' % family


def interpret(setting, model, firmware, values):
    """The Reading of ``setting`` for a phone of ``model`` at ``firmware`` whose settings read ``values`` ({pkey: text
    or None})."""
    row, why = row_for(setting, model, firmware)
    if row is None:
        return Reading(setting, unknown=why)
    value = values.get(row.key)
    if value is None:
        return Reading(setting, row.key, unknown='the phone did not report %s' % row.key, source=row.source)
    text = value.strip()
    if row.meanings is not None and not text:
        # The form dialect of some firmware reads a key it does not know as "" (cti-api.md section 6).
        return Reading(setting, row.key, text, unknown='%s is empty (the phone may not know the setting)' % row.key,
                       source=row.source)
    if row.meanings is None:
        return Reading(setting, row.key, text, text, source=row.source)
    meaning = row.meanings.get(text)
    if meaning is None:
        return Reading(setting, row.key, text, unknown='%s = %s, a value the collection cannot interpret for %s (known: %s)'
                       % (row.key, shown_value(text), family_of(model),
                          ', '.join('%s %s' % item for item in sorted(row.meanings.items()))), source=row.source)
    return Reading(setting, row.key, text, meaning, source=row.source)


def table_rows():
    """(setting, families, key, meanings, firmware condition, source) of every row, for docs and tests."""
    for setting, rows in TABLE.items():
        for row in rows:
            condition = 'firmware below %s' % '.'.join(str(part) for part in row.firmware_below) if row.firmware_below else ''
            yield setting, row.families, row.key, row.meanings, condition, row.source
