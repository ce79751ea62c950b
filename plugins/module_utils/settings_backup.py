# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A phone's whole configuration as text (cti-api.md section 7): what ``config_backup`` reads, the file it writes, and
how that file is read back for a restore with ``phone_config``.

The backup file is the phone's own text form, one ``P<n>=<value>`` line per setting, sorted by number, and nothing
that changes between runs.  Secrets are left out (so that the file can be sent back to a phone without setting a
password to a placeholder).  A value is written as it is, except for these characters, so that one line is one setting and
the file can be read back exactly:

- a backslash is written ``\\\\`` (two backslashes);
- a newline ``\\n``, a carriage return ``\\r``, a tab ``\\t``;
- any other character that is not printable (a control or format character) ``\\xHH``, ``\\uHHHH`` or ``\\UHHHHHHHH``,
  and a space at the end of a value ``\\x20`` (editors and file lookups drop spaces at the end of a line).

:func:`parse_backup` undoes exactly that.  How complete a backup is depends on what the phone offers, tried in turn:
``download_cfg`` (the phone's own configuration file), else its alias catalogue (``metaconfig_get``) read through
``config_get`` in batches of 50 (the JSON settings form), else the collection's list of known keys (:data:`KNOWN_PVALUES`)
through ``api.values.get`` (the form settings form).

Python 3.8 syntax: module_utils may run on a jump host.
"""

import re

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import ERROR, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import (
    READ_ONLY_PVALUES, PhoneSettings, is_secret, pvalue_key,
)

# Where a backup's values came from.
DOWNLOAD_CFG = 'download_cfg'
CATALOGUE = 'catalogue'
KNOWN_KEYS = 'known_keys'
SOURCES = (DOWNLOAD_CFG, CATALOGUE, KNOWN_KEYS)

# The keys cti-api.md section 6 names (doc/seen), then keys Grandstream's own provisioning templates set on most
# phones (account 1, ports, provisioning file names, web ports).  Read only where the phone has neither download_cfg
# nor an alias catalogue; a key the phone does not know is left out of the backup.  Secrets are in it so that a
# backup can say it left them out; they are never read.
SECTION_6_PVALUES = (
    'P30', 'P64', 'P207', 'P208', 'P47', 'P35', 'P270', 'P192', 'P237', 'P6767', 'P212', 'P238', 'P145', 'P8375',
    'P1650', 'P276', 'P32050', 'P32052', 'P1409', 'P4503', 'P240', 'P68', 'P89', 'P67', 'P232', 'P233', 'P22120',
    'P22121',
)
COMMON_PVALUES = (
    # account 1: display name, SIP registration and its expiry, voice mail, authentication id, outbound proxy, local
    # ports, NAT traversal, preferred codecs, unregister on reboot, account active
    'P3', 'P31', 'P32', 'P33', 'P36', 'P39', 'P40', 'P48', 'P52', 'P57', 'P58', 'P59', 'P60', 'P61', 'P62', 'P81',
    'P271',
    # provisioning: config file prefix and postfix, TR-069 user name
    'P234', 'P235', 'P4504',
)
SECRET_KEYS_LISTED = ('P2', 'P196', 'P34', 'P406', 'P506', 'P606', 'P1706', 'P1806', 'P1361', 'P6769', 'P1359', 'P4505',
                      'P4512', 'P21900', 'P21902')


def _by_number(keys):
    return tuple(sorted(set(keys), key=lambda key: int(key[1:])))


KNOWN_PVALUES = _by_number(SECTION_6_PVALUES + COMMON_PVALUES + SECRET_KEYS_LISTED)

# -- the text of a backup -------------------------------------------------------------------------------------------

_ESCAPES = {'\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'}
_UNESCAPES = {'\\': '\\', 'n': '\n', 'r': '\r', 't': '\t'}
_ESCAPE_RE = re.compile(r'\\(?:([\\nrt])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.?))', re.DOTALL)
_LINE_RE = re.compile(r'^P(\d{1,6})=(.*)$', re.DOTALL)
BACKUP_SUFFIX = '.txt'
# A file name is at most 255 bytes; the writer's temporary file adds ~15 characters around the name.
NAME_BYTES = 200


def escape_value(value):
    """``value`` as one line of a backup (see the module's docstring); :func:`unescape_value` gives it back."""
    if value.isprintable() and '\\' not in value and not value.endswith(' '):
        return value
    body = value.rstrip(' ')
    out = []
    for char in body:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append('\\x%02x' % code if code < 0x100 else '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code)
    # Spaces at the end of a line are lost to editors, git's whitespace rules and file lookups: written as \x20.
    out.append('\\x20' * (len(value) - len(body)))
    return ''.join(out)


def unescape_value(text):
    """The value of a backup line's text; ValueError for a backslash that starts no escape of the format."""
    if '\\' not in text:
        return text

    def replace(match):
        simple, byte, short, long_form, other = match.groups()
        if simple is not None:
            return _UNESCAPES[simple]
        if other is not None:
            raise ValueError('"\\%s" is not an escape of the backup format (a backslash is written \\\\)' % other)
        code = int(byte or short or long_form, 16)
        if code > 0x10FFFF:
            raise ValueError('"\\U%s" is not a character' % long_form)
        return chr(code)

    return _ESCAPE_RE.sub(replace, text)


def render_backup(values):
    """The backup text of ``{'P30': value}``: one line per key, sorted by number, nothing else."""
    keys = sorted(values, key=lambda key: int(key[1:]))
    return ''.join('%s=%s\n' % (key, escape_value(values[key])) for key in keys)


def parse_backup(text, source='backup'):
    """``{'P30': value}`` of a backup's text.  Empty lines and lines starting with ``#`` are skipped (a person may
    comment a file); any other line that is not ``P<n>=<value>`` is a ValueError naming ``source:line``."""
    values = {}
    for number, line in enumerate(text.split('\n'), 1):
        if line == '' or line.startswith('#'):
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise ValueError('%s:%d: not a P<number>=<value> line: %r' % (source, number, line[:60]))
        key = 'P%d' % int(match.group(1))
        if key in values:
            raise ValueError('%s:%d: %s is set twice' % (source, number, key))
        try:
            values[key] = unescape_value(match.group(2))
        except ValueError as exc:
            raise ValueError('%s:%d: %s' % (source, number, exc))
    return values


def parse_download_cfg(text):
    """``{'P30': value}`` of the phone's own configuration file (``P<n>=<value>`` lines, values as they are, no
    escapes); other lines are not settings and are skipped, a key given twice keeps its last value."""
    values = {}
    for line in text.split('\n'):
        match = _LINE_RE.match(line.rstrip('\r'))
        if match is not None:
            values['P%d' % int(match.group(1))] = match.group(2)
    return values


def restorable(values, keys=None, read_only=False):
    """The values of a backup that ``phone_config`` can set: the read-only ones (MAC, firmware, model) left out (kept
    with ``read_only``), and only ``keys`` when given (P-numbers, ``30`` or ``P30``).  ValueError names a key that is
    not a P-number."""
    wanted = None
    if keys is not None:
        wanted = set()
        for key in keys:
            pkey = pvalue_key(key)
            if pkey is None:
                raise ValueError('%r is not a P-number key (P30, 30)' % (key,))
            wanted.add(pkey)
    return dict((key, value) for key, value in values.items()
                if (read_only or key not in READ_ONLY_PVALUES) and (wanted is None or key in wanted))


def drift(before, after):
    """``{'P30': {'before': old, 'after': new}}`` for every key whose value differs between two backups, sorted by
    number; a key only one of them has is None on the other side."""
    keys = [key for key in set(before) | set(after) if before.get(key) != after.get(key)]
    return dict((key, {'before': before.get(key), 'after': after.get(key)})
                for key in sorted(keys, key=lambda key: int(key[1:])))


def backup_file_name(name):
    """``<name>.txt`` for an inventory name; ValueError when the name cannot be a file name in the backup directory
    (a path separator, a leading dot, a control character, too long)."""
    text = str(name)
    problem = None
    if text in ('', '.', '..') or text.startswith('.'):
        problem = 'it starts with a dot'
    elif '/' in text or '\\' in text:
        problem = 'it contains a path separator'
    elif not text.isprintable():
        problem = 'it contains a character that is not printable'
    elif len(text.encode('utf-8', 'replace')) > NAME_BYTES:
        problem = 'it is longer than %d bytes' % NAME_BYTES
    if problem:
        raise ValueError('its inventory name cannot be a backup file name (%s)' % problem)
    return text + BACKUP_SUFFIX


# -- reading a whole configuration from a phone --------------------------------------------------------------------

class WholeConfig(object):
    """What :func:`read_whole` read: ``values`` (``{'P30': text}``, secrets never in it), ``source`` (one of SOURCES)
    and ``secrets_left_out`` (the secret keys the source had, sorted by number)."""

    __slots__ = ('values', 'source', 'secrets_left_out')

    def __init__(self, values, source, secrets_left_out):
        self.values = values
        self.source = source
        self.secrets_left_out = list(_by_number(secrets_left_out))


def read_whole(client, settings=None):
    """The whole configuration of one phone, as complete as it allows (see the module's docstring).  One web login
    (the client's); a CTIError for what the phone answered."""
    settings = settings or PhoneSettings(client)
    client.web_login()
    # A user-role session may not download the file (the phone answers 401); it can still read the values.
    text = _download_cfg(client) if client.login_role != 'user' else None
    found = parse_download_cfg(text) if text else {}
    # The catalogue straight away: on a JSON-form phone it also tells the form (no model probe), and it names the
    # secrets.  Without one (HTTP 404) the form is found out only when values are read.
    catalogue = settings.probe_catalogue() or {}
    alias_of = dict((pkey, alias) for alias, pkey in catalogue.items())

    def secret(pkey):
        return is_secret(pkey, alias_of.get(pkey))

    if found:
        left_out = [key for key in found if secret(key)]
        return WholeConfig(dict((key, value) for key, value in found.items() if key not in left_out), DOWNLOAD_CFG,
                           left_out)
    # The catalogue's keys (~2,600 on a real phone), else the known keys; secrets are never asked for.
    keys = set(catalogue.values()) if catalogue else set(KNOWN_PVALUES)
    left_out = [key for key in keys if secret(key)]
    values = settings.read(list(_by_number(key for key in keys if key not in left_out)))
    return WholeConfig(dict((key, value) for key, value in values.items() if value is not None),
                       CATALOGUE if catalogue else KNOWN_KEYS, left_out)


def _download_cfg(client):
    """The text of ``download_cfg``, or None when the phone does not offer it (HTTP 404)."""
    try:
        return client.web_request('download_cfg', 'GET', '/cgi-bin/download_cfg', text=True)
    except CTIError as error:
        if error.error_class == ERROR and error.status == 404:
            return None
        raise
