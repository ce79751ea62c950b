# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A phone's settings (its P-values, cti-api.md sections 6 and 7): keys, secrets, both wire forms, and applying the
values an admin wants with every write read back.

- Keys are ``P30``, ``30`` or an alias (``provisioning.firmware.serverPath``, resolved through the phone's alias
  catalogue).  A key is checked against ``^P?\\d{1,6}$`` before anything is sent (CVE-2026-2329: a long key crashes a
  GXP16xx below 1.0.7.81), and an alias only ever becomes a P-number: no user string reaches the phone as a key.
- Secrets (passwords, SNMP communities...) are write-only: never read, never compared, never shown; a written secret
  is reported as ``unverified``.
- :class:`PhoneSettings` reads in batches of at most 50 keys and writes through the phone's wire form, which comes from
  its model and firmware (``phone_models.settings_wire``) or, when those do not tell, from one request without
  credentials (a 404 means the form dialect).  The client owns the login: one per phone and task.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import re

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import ERROR, REJECTED, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import (
    FORM_SETTINGS, JSON_SETTINGS, settings_wire,
)

PVALUE_RE = re.compile(r'^[Pp]?(\d{1,6})$')
ALIAS_RE = re.compile(r'^[A-Za-z][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9_-]{1,64}){0,15}$')
READ_BATCH = 50
ALIAS_CATALOGUE_LIMIT = 20000   # the catalogue has ~2,600 entries
VALUE_LIMIT = 4096              # characters of one value, read or written
MASK = '********'

# Secrets (cti-api.md section 6): admin and user passwords, SIP account passwords, and others; never read back.
SECRET_PVALUES = frozenset(['P2', 'P196', 'P34', 'P406', 'P506', 'P606', 'P1706', 'P1806', 'P1361', 'P6769', 'P1359',
                            'P4505', 'P4512', 'P21900', 'P21902'])
_SECRET_WORDS = frozenset(['password', 'passwd', 'pass', 'pwd', 'secret', 'key', 'community', 'psk', 'passphrase', 'pin'])
READ_ONLY_PVALUES = frozenset(['P67', 'P68', 'P89'])     # MAC, firmware version, model
# Writing these can end the management session (web access mode and ports): read back on a new connection, not here.
SESSION_CUTTERS = frozenset(['P1650', 'P22120', 'P22121'])
# Provisioning keys a cloud service (GDMS) may own: writes to them are dropped while the phone answers success.
PROVISIONING_PVALUES = frozenset(['P192', 'P237', 'P6767', 'P212', 'P232', 'P233', 'P234', 'P235', 'P238', 'P145', 'P240'])
ADMIN_PASSWORD = 'P2'
URL_FIELD_LIMIT = 256
# Newer firmware drops an admin password under 8 characters, or without both letters and digits, while answering
# success (cti-api.md section 6); P2 cannot be read back, so such a value is refused before anything is written.
ADMIN_PASSWORD_MIN = 8


def weak_admin_password(value):
    """Why the phone would drop ``value`` as its admin password (P2), or None."""
    if len(value) < ADMIN_PASSWORD_MIN:
        return 'it has fewer than %d characters' % ADMIN_PASSWORD_MIN
    if not re.search(r'[A-Za-z]', value) or not re.search(r'[0-9]', value):
        return 'it does not have both letters and digits'
    return None


def pvalue_key(key):
    """``'P30'`` for ``P30``, ``p30``, ``30`` or 30; None for anything else (an alias, a bad key)."""
    if isinstance(key, bool):
        return None
    match = PVALUE_RE.match(str(key).strip()) if isinstance(key, (str, int)) else None
    return 'P%d' % int(match.group(1)) if match else None


def is_alias(key):
    return isinstance(key, str) and len(key) <= 512 and bool(ALIAS_RE.match(key)) and pvalue_key(key) is None


def alias_is_secret(alias):
    words = re.split(r'[._\-]+|(?<=[a-z0-9])(?=[A-Z])', alias or '')
    return any(word.lower() in _SECRET_WORDS for word in words if word)


def is_secret(pkey, alias=None):
    return pkey in SECRET_PVALUES or (alias is not None and alias_is_secret(alias))


def as_value(key, value):
    """The string a P-value travels as (numbers and booleans too); ValueError for what no setting can hold."""
    if value is None or isinstance(value, (dict, list)):
        raise ValueError('the value of %s must be text or a number, not %s' % (key, 'null' if value is None else type(value).__name__))
    text = ('1' if value else '0') if isinstance(value, bool) else str(value)
    if len(text) > VALUE_LIMIT:
        raise ValueError('the value of %s is %d characters long; no setting holds more than %d' % (key, len(text), VALUE_LIMIT))
    if '\x00' in text:
        raise ValueError('the value of %s contains a NUL character' % key)
    return text


def check_keys(keys):
    """(P-number keys, aliases) of what the user wrote; ValueError naming every key that is neither (nothing sent)."""
    pkeys, aliases, bad = {}, {}, []
    for key in keys:
        pkey = pvalue_key(key)
        if pkey is not None:
            pkeys[key] = pkey
        elif is_alias(key):
            aliases[key] = key
        else:
            bad.append(str(key)[:80])
    if bad:
        raise ValueError('not a setting key: %s (a key is P<number> with up to 6 digits, or an alias such as '
                         'provisioning.firmware.serverPath)' % ', '.join(repr(key) for key in bad))
    return pkeys, aliases


class PhoneSettings(object):
    """The settings of one phone, through its CTIClient (which logs in once and owns every credential rule)."""

    def __init__(self, client, wire=None):
        self.client = client
        self._wire = wire
        self._aliases = None
        self.model = None

    # -- which wire form -----------------------------------------------------------------

    @property
    def wire(self):
        if self._wire is None:
            self._wire = self._find_wire()
        return self._wire

    def _find_wire(self):
        try:
            self.model = self.client.get_model()
        except CTIError as error:
            if error.error_class != ERROR:
                raise
        facts = self.client.web_login()
        wire = settings_wire(self.model, facts.get('ver'))
        if wire is None:
            # Neither model nor firmware tells: ask without credentials (nothing counts towards a lockout).
            wire = FORM_SETTINGS if self.client.web_probe('/cgi-bin/config_get') == 404 else JSON_SETTINGS
        return wire

    # -- reading -------------------------------------------------------------------------

    def read(self, pkeys):
        """``{pkey: value}`` for each P-number key (``'P30'``); a key the phone does not know is None."""
        values = {}
        pkeys = list(dict.fromkeys(pkeys))
        for start in range(0, len(pkeys), READ_BATCH):
            batch = pkeys[start:start + READ_BATCH]
            values.update(self._read_form(batch) if self.wire == FORM_SETTINGS else self._read_json(batch))
        return values

    def _read_form(self, batch):
        answer = self.client.web_request('api.values.get', 'POST', '/cgi-bin/api.values.get',
                                         data={'request': ':'.join(batch)}, text_limit=VALUE_LIMIT)
        body = self._success_body('api.values.get', answer)
        if not isinstance(body, dict):
            raise self.client.reader.wrong_shape('api.values.get', 'an object of values', body)
        found = dict((pvalue_key(key), value) for key, value in body.items() if pvalue_key(key))
        return dict((pkey, _text_or_none(found.get(pkey))) for pkey in batch)

    def _read_json(self, batch):
        answer = self.client.web_request('config_get', 'GET', '/cgi-bin/config_get',
                                         params={'pvalues': ','.join(pkey[1:] for pkey in batch)}, text_limit=VALUE_LIMIT)
        configs = answer.get('configs') if isinstance(answer, dict) else None
        if not isinstance(configs, list):
            if isinstance(answer, dict) and answer.get('response') == 'error':
                raise self._refused('config_get', answer)
            raise self.client.reader.wrong_shape('config_get', 'an object with "configs"', answer)
        found = {}
        for item in configs:
            if not isinstance(item, dict):
                continue
            pkey = pvalue_key(item.get('pvalue'))
            value, alias = item.get('value'), item.get('alias')
            # A key the phone does not know answers value "" and alias "" (a real, empty setting keeps its alias).
            if pkey is not None and not (value in ('', None) and alias in ('', None)):
                found[pkey] = _text_or_none(value)
        return dict((pkey, found.get(pkey)) for pkey in batch)

    # -- writing -------------------------------------------------------------------------

    def write(self, values):
        """Write ``{pkey: text}``.  The phone's success says nothing (read back); an error answer is a CTIError."""
        items = list(values.items())
        for start in range(0, len(items), READ_BATCH):
            batch = dict(items[start:start + READ_BATCH])
            if self.wire == FORM_SETTINGS:
                answer = self.client.web_request('api.values.post', 'POST', '/cgi-bin/api.values.post', data=batch)
            else:
                answer = self.client.web_request('config_update', 'PUT', '/cgi-bin/config_update',
                                                 json_body={'alias': {}, 'pvalue': dict((key[1:], value) for key, value in batch.items())})
            self._success_body('api.values.post' if self.wire == FORM_SETTINGS else 'config_update', answer)

    # -- aliases ---------------------------------------------------------------------------

    def aliases(self):
        """``{alias: pkey}`` from the phone's catalogue (JSON dialect; the form dialect has none: {})."""
        if self._aliases is None:
            self._aliases = {}
            if self.wire == JSON_SETTINGS:
                self._aliases = self._catalogue()
        return self._aliases

    def probe_catalogue(self):
        """The catalogue asked for before the wire form is known (a backup: one request less than finding out the
        form first): a catalogue means the JSON form; HTTP 404 answers None and leaves the form to be found out."""
        if self._wire is not None or self._aliases is not None:
            return self.aliases() if self.wire == JSON_SETTINGS else None
        try:
            catalogue = self._catalogue()
        except CTIError as error:
            if error.error_class == ERROR and error.status == 404:
                return None
            raise
        self._wire, self._aliases = JSON_SETTINGS, catalogue
        return catalogue

    def _catalogue(self):
        answer = self.client.web_request('metaconfig_get', 'GET', '/cgi-bin/metaconfig_get', object_limit=ALIAS_CATALOGUE_LIMIT)
        entries = answer.get('body') if isinstance(answer, dict) else answer
        if not isinstance(entries, list):
            raise self.client.reader.wrong_shape('metaconfig_get', 'a list of {"pvalue", "alias"}', answer)
        catalogue = {}
        for item in entries:
            if isinstance(item, dict) and is_alias(item.get('alias')) and pvalue_key(item.get('pvalue')):
                catalogue[item['alias']] = pvalue_key(item['pvalue'])
        return catalogue

    def resolve(self, keys):
        """``{key as written: pkey}``; aliases through the catalogue.  ValueError names every key that is unknown."""
        pkeys, aliases = check_keys(keys)
        if aliases:
            catalogue = self.aliases()
            unknown = [alias for alias in aliases if alias not in catalogue]
            if unknown:
                raise ValueError('unknown alias%s %s on this phone%s' % (
                    'es' if len(unknown) > 1 else '', ', '.join(repr(alias) for alias in unknown),
                    ' (its settings have no alias catalogue: use P-numbers)' if self.wire == FORM_SETTINGS else ''))
            pkeys.update((alias, catalogue[alias]) for alias in aliases)
        return pkeys

    def alias_of(self, pkey):
        """The alias of a P-number when the catalogue is loaded, else None."""
        for alias, key in (self._aliases or {}).items():
            if key == pkey:
                return alias
        return None

    # -- answers ---------------------------------------------------------------------------

    def _success_body(self, what, answer):
        if not isinstance(answer, dict) or answer.get('response') not in ('success', 'error'):
            raise self.client.reader.wrong_shape(what, 'a {"response": ..., "body": ...} object', answer)
        if answer['response'] != 'success':
            raise self._refused(what, answer)
        return answer.get('body')

    def _refused(self, what, answer):
        return CTIError(self.client.connection.label, REJECTED, 'the phone refused %s (answered %r).'
                        % (what, self.client.reader.excerpt(repr(answer.get('body')))), status=200)


def _text_or_none(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return '1' if value else '0'
    return value if isinstance(value, str) else str(value)


def likely_causes(pkeys, values, client):
    """Why values a phone accepted may not have stuck (cti-api.md section 6), most likely first."""
    causes = []
    if getattr(client, 'login_role', None) == 'user':
        causes.append('the login is a user-role account (grandstream_username), whose writes the phone drops')
    long_keys = [key for key in pkeys if len(values.get(key, '')) > URL_FIELD_LIMIT]
    if long_keys:
        causes.append('%s longer than %d characters' % (', '.join(long_keys), URL_FIELD_LIMIT))
    if ADMIN_PASSWORD in pkeys:
        causes.append('the phone refuses a weak admin password (P2)')
    if any(key in PROVISIONING_PVALUES for key in pkeys):
        causes.append('a cloud service (GDMS) owns provisioning on this phone')
    causes.append('this model or firmware does not let the value be changed this way')
    return causes
