# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit's security posture: seven checks per phone, each ``pass``, ``fail`` or ``unknown`` with why.

In the phone's visit (after the registration and the device parts) :class:`PosturePart` reads the security settings
in one request, through the web login the device part already made (one login per phone: ``phone_facts.read_device``
with ``web_login``), and judges them with the interpretation table of ``audit_posture_table.py``; the factory password
comes from the login answer, the firmware CVEs from a table shipped as data (``audit_posture_cves.json``) that the
audit's ``cves`` option extends.  A value the collection cannot interpret for the model is ``unknown``, never a guess;
a phone that could not be read has every check ``unknown``, with why.  How the posture shows in the reports is
``audit_posture_reports.py``; docs/posture.md says it for people.
"""

import fnmatch
import json
import os
import re

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_facts import MODEL_NOT_ASKED, read_model
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import (
    FORM_SETTINGS, JSON_SETTINGS, family_of, settings_wire,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import PhoneSettings
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture_table import (
    FIRMWARE_KEY, HTTP_AND_HTTPS, HTTPS, KEYS, MODEL_KEY, OFF, ON, interpret, shown_value,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import compare_versions, parse_version
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import (
    FLAG, CheckPart, Field, list_of, short_why,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, plural

PASS, FAIL, UNKNOWN = 'pass', 'fail', 'unknown'
RESULTS = (PASS, FAIL, UNKNOWN)
CHECKS = ('factory_password', 'firmware_cve', 'tr069_enabled', 'provisioning_plain', 'web_plain_http', 'ssh_enabled',
          'cti_open')

# For people: what a failed check means, and what to change on the phone.
FAILED_MEANS = {
    'factory_password': 'the factory password is still set',
    'firmware_cve': 'the firmware has a known CVE',
    'tr069_enabled': 'TR-069 is on',
    'provisioning_plain': 'firmware or configuration come in plain text, or configuration files are not authenticated',
    'web_plain_http': 'the web interface answers over plain HTTP',
    'ssh_enabled': 'SSH is on',
    'cti_open': 'CTI (Action URI) accepts commands from any address',
}
WHAT_TO_CHANGE = {
    'factory_password': 'Set an admin password of your own on the phone (P2, for example with '
                        'phonefleet.grandstream.phone_config), then put it in grandstream_passcode.',
    'firmware_cve': 'Upgrade the firmware to the fixed version named in the reason, or later.',
    'tr069_enabled': 'Turn TR-069 off (P1409 = 0) unless an ACS (GDMS) manages the phone on purpose; if it does, check '
                     'that the ACS URL (P4503) is yours.',
    'provisioning_plain': 'Fetch firmware and configuration over HTTPS (P6767 = 2 and P212 = 2; on GXP21xx below 1.0.11 '
                          'P212 covers both) and turn configuration file authentication on (P240 = 1).',
    'web_plain_http': 'Serve the web interface over HTTPS only (P1650 = 0 on GRP/GXP phones, 1 on WP8xx); the web '
                      'session may drop when it changes, so set grandstream_scheme to https for the phone.',
    'ssh_enabled': 'Turn SSH off (P276 = 1 on GRP/GXP phones, where P276 is "Disable SSH"; P276 = 0 on WP8xx).',
    'cti_open': "Put the controller's address in the Action URI Allowed IP List (P32052), or turn Action URI off "
                '(P32050 = 0) on phones that no CTI client uses.',
}
# What each check reads (docs/posture.md has the table with the sources).
READS = {
    'factory_password': 'defaultAuth in the web login answer',
    'firmware_cve': 'the model (model.define.js, else P89) and the firmware (ver in the login answer, else P68)',
    'tr069_enabled': 'P1409, P4503',
    'provisioning_plain': 'P6767 (P212 on GXP21xx below 1.0.11), P212, P240',
    'web_plain_http': 'P1650',
    'ssh_enabled': 'P276',
    'cti_open': 'P32050, P32052',
}

# -- the CVE table -------------------------------------------------------------------------------------------------

CVE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'audit_posture_cves.json')
CVE_FIELDS = ('id', 'models', 'fixed', 'summary', 'source')
_CVE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$')
MAX_CVES = 1000


def shipped_cves():
    """The CVE entries shipped with the collection (``audit_posture_cves.json``)."""
    with open(CVE_FILE, encoding='utf-8') as handle:
        return json.load(handle)['cves']


def check_cve(entry, where):
    """The entry as the table keeps it; ValueError saying which entry (``where``) and what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError('%s must be an object with id, models and fixed, not %s' % (where, _shown(entry)))
    unknown = sorted(str(key) for key in entry if key not in CVE_FIELDS)
    if unknown:
        raise ValueError('%s: unknown field%s %s (known: %s)' % (
            where, 's' if len(unknown) > 1 else '', ', '.join(_shown(key) for key in unknown), ', '.join(CVE_FIELDS)))
    cve_id = entry.get('id')
    if not isinstance(cve_id, str) or not _CVE_ID.match(cve_id):
        raise ValueError('%s: "id" must be a CVE name such as CVE-2026-2329, not %s' % (where, _shown(cve_id)))
    where = '%s (%s)' % (where, cve_id)
    models = entry.get('models')
    if not isinstance(models, list) or not models or \
            not all(isinstance(model, str) and model.strip() and len(model) <= 64 for model in models):
        raise ValueError('%s: "models" must be a list of model names or patterns such as GXP1628 or GXP16*, not %s'
                         % (where, _shown(models)))
    fixed = entry.get('fixed')
    if not isinstance(fixed, str) or parse_version(fixed) is None:
        raise ValueError('%s: "fixed" must be the first fixed firmware as a dotted version such as 1.0.7.81, not %s'
                         % (where, _shown(fixed)))
    for field in ('summary', 'source'):
        if entry.get(field) is not None and (not isinstance(entry[field], str) or len(entry[field]) > 500):
            raise ValueError('%s: "%s" must be a sentence of at most 500 characters' % (where, field))
    return {'id': cve_id, 'models': [model.strip() for model in models], 'fixed': fixed.strip(),
            'summary': entry.get('summary') or '', 'source': entry.get('source') or ''}


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


class CVETable(object):
    """The firmware CVEs a phone is judged against: the shipped ones, then ``extra`` (an entry with the id of a shipped
    one replaces it).  ValueError for an entry that is not of the shape (nothing is sent to any phone then)."""

    def __init__(self, extra=(), shipped=None):
        extra = list(extra or [])
        if len(extra) > MAX_CVES:
            raise ValueError('cves: %d entries; at most %d are read' % (len(extra), MAX_CVES))
        entries = {}
        for number, entry in enumerate(shipped_cves() if shipped is None else shipped, 1):
            entry = check_cve(entry, '%s entry %d' % (os.path.basename(CVE_FILE), number))
            entries[entry['id']] = entry
        for number, entry in enumerate(extra, 1):
            entry = check_cve(entry, 'cves entry %d' % number)
            entries[entry['id']] = entry
        self.entries = list(entries.values())

    @property
    def ids(self):
        return [entry['id'] for entry in self.entries]

    def applying_to(self, model):
        name = str(model).strip().upper()
        return [entry for entry in self.entries
                if any(fnmatch.fnmatchcase(name, pattern.upper()) for pattern in entry['models'])]

    def verdict(self, model, firmware):
        """``{'result', 'reason'[, 'cves']}`` of a phone of ``model`` running ``firmware`` (both None when unknown)."""
        if not model:
            return _verdict(UNKNOWN, 'the model is unknown, so which CVEs apply is unknown')
        applying = self.applying_to(model)
        if not applying:
            return _verdict(PASS, 'no CVE of the table (%s) applies to the model %s' % (
                ', '.join(self.ids) or 'empty', shown_value(model)))
        named = ', '.join('%s (fixed in %s)' % (entry['id'], entry['fixed']) for entry in applying)
        if not firmware:
            return _verdict(UNKNOWN, 'the firmware is unknown, and %s applies to the %s' % (named, shown_value(model)))
        version = parse_version(firmware)
        if version is None:
            return _verdict(UNKNOWN, 'the firmware %s is not a dotted version, so it cannot be compared with %s'
                            % (shown_value(firmware), named))
        open_to = [entry for entry in applying if compare_versions(version, parse_version(entry['fixed'])) < 0]
        if not open_to:
            return _verdict(PASS, 'firmware %s is at or above the fixed version of %s' % (firmware, named))
        verdict = _verdict(FAIL, 'firmware %s is open to %s' % (firmware, '; '.join(
            '%s (fixed in %s)%s' % (entry['id'], entry['fixed'], ': ' + entry['summary'] if entry['summary'] else '')
            for entry in open_to)))
        verdict['cves'] = [entry['id'] for entry in open_to]
        return verdict


def _verdict(result, reason):
    return {'result': result, 'reason': reason}


# -- the checks on what one phone said ---------------------------------------------------------------------------

def judge(model, firmware, default_password, values, cves, unknown_reason=None, settings_error=None):
    """``{check: {'result', 'reason'}}`` for a phone: its model and firmware (None when unknown), its factory-password
    flag (True, False, None), the settings it read (``values``: {pkey: text or None}; None when they could not be read,
    ``settings_error`` says why), the CVETable; ``unknown_reason``: why a device field is unknown."""
    unknown_reason = unknown_reason or {}
    posture = {'factory_password': _factory_password(default_password, unknown_reason.get('default_password')),
               'firmware_cve': cves.verdict(model, firmware)}
    if values is None:
        why = 'the settings could not be read: %s' % (settings_error or 'no answer').rstrip('.')
        for check in CHECKS[2:]:
            posture[check] = _verdict(UNKNOWN, why)
    else:
        for check, judge_settings in (('tr069_enabled', _tr069), ('provisioning_plain', _provisioning),
                                      ('web_plain_http', _web_access), ('ssh_enabled', _ssh), ('cti_open', _cti_open)):
            posture[check] = judge_settings(model, firmware, values)
    return dict((check, posture[check]) for check in CHECKS)


def _factory_password(flag, why):
    if flag is True:
        return _verdict(FAIL, 'the phone still has its factory password (its login answer says defaultAuth: true)')
    if flag is False:
        return _verdict(PASS, 'the factory password was changed (defaultAuth: false)')
    return _verdict(UNKNOWN, why or 'the phone did not say whether its factory password is set')


def _tr069(model, firmware, values):
    tr069 = interpret('tr069', model, firmware, values)
    if tr069.unknown:
        return _verdict(UNKNOWN, 'TR-069: %s' % tr069.unknown)
    if tr069.meaning == OFF:
        return _verdict(PASS, 'TR-069 is off (%s)' % tr069.shown())
    acs = interpret('tr069_acs', model, firmware, values)
    where = _host_of(acs.meaning) if not acs.unknown else None
    return _verdict(FAIL, 'TR-069 is on (%s)%s' % (tr069.shown(), ', ACS %s' % where if where else ', no ACS URL set'))


def _host_of(url):
    """The host of an ACS URL, never its user name or password; None when there is none."""
    text = (url or '').strip()
    if not text:
        return None
    rest = text.split('://', 1)[-1]
    host = rest.split('/', 1)[0].rsplit('@', 1)[-1]
    return shown_value(host) if host else None


_PLAIN = {'tftp': 'TFTP', 'http': 'plain HTTP'}


def _provisioning(model, firmware, values):
    findings, unknown, fine = [], [], []
    for setting, what in (('firmware_protocol', 'firmware'), ('config_protocol', 'configuration')):
        reading = interpret(setting, model, firmware, values)
        if reading.unknown:
            unknown.append('%s protocol: %s' % (what, reading.unknown))
        elif reading.meaning == HTTPS:
            fine.append(reading.shown())
        else:
            findings.append('%s over %s (%s)' % (what, _PLAIN[reading.meaning], reading.shown()))
    auth = interpret('config_auth', model, firmware, values)
    if auth.unknown:
        unknown.append('configuration file authentication: %s' % auth.unknown)
    elif auth.meaning == OFF:
        findings.append('configuration files not authenticated (%s)' % auth.shown())
    else:
        fine.append(auth.shown())
    if findings:
        return _verdict(FAIL, '; '.join(findings + (['not known: %s' % '; '.join(unknown)] if unknown else [])))
    if unknown:
        return _verdict(UNKNOWN, '; '.join(unknown))
    return _verdict(PASS, 'firmware and configuration over HTTPS, configuration files authenticated (%s)' % ', '.join(fine))


def _web_access(model, firmware, values):
    reading = interpret('web_access', model, firmware, values)
    if reading.unknown:
        return _verdict(UNKNOWN, 'web access: %s' % reading.unknown)
    where = '%s on %s' % (reading.shown(), model)
    if reading.meaning == HTTPS:
        return _verdict(PASS, 'the web interface answers over HTTPS only (%s)' % where)
    if reading.meaning == HTTP_AND_HTTPS:
        return _verdict(FAIL, 'the web interface answers over plain HTTP as well as HTTPS (%s)' % where)
    return _verdict(FAIL, 'the web interface answers over plain HTTP (%s)' % where)


def _ssh(model, firmware, values):
    reading = interpret('ssh', model, firmware, values)
    if reading.unknown:
        return _verdict(UNKNOWN, 'SSH: %s' % reading.unknown)
    return _verdict(FAIL if reading.meaning == ON else PASS, 'SSH is %s (%s on %s)' % (reading.meaning, reading.shown(), model))


_EVERYONE = frozenset(['any', '0.0.0.0', '0.0.0.0/0', '::/0', '*'])


def _cti_open(model, firmware, values):
    switch = interpret('action_uri', model, firmware, values)
    if switch.unknown:
        return _verdict(UNKNOWN, 'Action URI: %s' % switch.unknown)
    if switch.meaning == OFF:
        return _verdict(PASS, 'Action URI (CTI) is off (%s)' % switch.shown())
    allowed = interpret('action_uri_allowed', model, firmware, values)
    if allowed.unknown:
        return _verdict(UNKNOWN, 'Action URI is on (%s), and its allowed list is unknown: %s' % (switch.shown(), allowed.unknown))
    entries = [item for item in allowed.meaning.replace(',', ' ').split() if item]
    if not entries or any(item.lower() in _EVERYONE for item in entries):
        return _verdict(FAIL, 'Action URI (CTI) is on (%s) and accepts commands from any address (%s)'
                        % (switch.shown(), allowed.shown()))
    return _verdict(PASS, 'Action URI (CTI) is on, only for %s (%s)' % (shown_value(', '.join(entries)), allowed.key))


# -- the part ------------------------------------------------------------------------------------------------------

def _is_posture(value):
    if not isinstance(value, dict):
        return False
    for check, item in value.items():
        if not isinstance(check, str) or not isinstance(item, dict) or item.get('result') not in RESULTS:
            return False
        if item.get('reason') is not None and not isinstance(item['reason'], str):
            return False
        cves = item.get('cves')
        if cves is not None and not (isinstance(cves, list) and all(isinstance(name, str) for name in cves)):
            return False
    return True


POSTURE_FIELD = Field(_is_posture, 'an object of posture checks ({"<check>": {"result": "pass", "fail" or "unknown", '
                                   '"reason": "..."}})').only_when_set()


class PosturePolicy(object):
    """What the posture is judged against: the CVE table (shipped entries and ``cves``)."""

    def __init__(self, cves=()):
        self.cves = CVETable(cves)


class PosturePart(CheckPart):
    """Seven security checks per phone, from the settings read in the same visit; their counts.  ``policy`` None: the
    posture is off (nothing is read; a merge still counts the posture its slices' rows carry)."""

    name = 'posture'
    fields = {'posture': POSTURE_FIELD}
    settings = {'posture': FLAG, 'posture_cves': list_of(lambda item: isinstance(item, str), 'a list of CVE names')}

    def __init__(self, policy=None):
        self.policy = policy

    @property
    def enabled(self):
        return self.policy is not None

    def read(self, client, target, data):
        """One settings read through the device part's web login.  The model comes from P89 in the same read (the
        device part did not ask model.define.js, which spares a request per phone); model.define.js only when the read
        does not tell it.  The settings form is the one the model and firmware say (the inventory's ``model`` as a
        hint), else the JSON one, and the other when the phone answers that it has no such endpoint."""
        if not self.enabled:
            return
        device = data.setdefault('device', {})
        unknown = device.setdefault('unknown_reason', {})
        try:
            hint = (target.variables if target is not None else {}).get('model')
            if device.get('model') is None and hint and family_of(hint) is None:
                # The inventory names a model of no line the table knows: ask the phone what it is first.
                read_model(client, device, unknown)
            if device.get('login_error'):
                data['posture_error'] = device['login_error']['reason']
            elif device.get('model') and family_of(device['model']) is None:
                # No row of the table could read its settings: ask nothing of a device the collection does not know.
                data['posture_values'] = {}
            else:
                try:
                    values = self._read_settings(client, device, hint)
                except CTIError as exc:
                    # The phone answered its CTI: a settings read that fails leaves the settings checks unknown, with why.
                    data['posture_error'] = exc.reason
                else:
                    data['posture_values'] = values
                    for field, key in (('model', MODEL_KEY), ('firmware', FIRMWARE_KEY)):
                        value = (values.get(key) or '').strip()
                        if device.get(field) is None and value:
                            device[field] = value
                            unknown.pop(field, None)
            if device.get('model') is None and unknown.get('model') == MODEL_NOT_ASKED:
                read_model(client, device, unknown)
        except CTIError as exc:
            unknown['model'] = exc.reason

    @staticmethod
    def _read_settings(client, device, inventory_model):
        keys = [key for key in KEYS if key != FIRMWARE_KEY or device.get('firmware') is None]
        first = settings_wire(device.get('model') or inventory_model, device.get('firmware')) or JSON_SETTINGS
        try:
            return PhoneSettings(client, wire=first).read(keys)
        except CTIError as exc:
            if exc.error_class != ERROR or exc.status not in (404, 200):
                raise
        # A 404, or a 200 that is not this form's answer (an HTML page): the phone speaks the other settings form
        # (cti-api.md section 6).
        return PhoneSettings(client, wire=FORM_SETTINGS if first == JSON_SETTINGS else JSON_SETTINGS).read(keys)

    def record(self, row, result, target):
        if not self.enabled:
            return
        if not result['ok']:
            why = short_why(row)
            reason = 'the phone could not be read (%s%s)' % (
                row.get('reason') or result.get('error_class') or 'error', ': %s' % why if why else '')
            row['posture'] = dict((check, _verdict(UNKNOWN, reason)) for check in CHECKS)
            return
        data = result.get('data') or {}
        device = data.get('device') or {}
        row['posture'] = judge(row.get('model'), row.get('firmware'), row.get('default_password'),
                               data.get('posture_values'), self.policy.cves, device.get('unknown_reason'),
                               data.get('posture_error'))

    def count(self, rows, summary):
        if not self.enabled and not any('posture' in row for row in rows):
            return
        counts = dict((check, dict((result, 0) for result in RESULTS)) for check in CHECKS)
        for row in rows:
            posture = row.get('posture') or {}
            for check in CHECKS:
                result = (posture.get(check) or {}).get('result')
                counts[check][result if result in RESULTS else UNKNOWN] += 1
        summary['posture'] = counts

    def settings_of(self, options):
        if not self.enabled:
            return {}
        return {'posture': True, 'posture_cves': self.policy.cves.ids}

    def problems(self, report):
        """``posture_failed``: the phones that fail a check of ``fail_on_posture`` (they fail the run)."""
        return {'posture_failed': failing(report, fail_on(report))}

    def sentence(self, report):
        return posture_sentence(report)


def fail_on(report):
    checks = (report.get('audit') or {}).get('fail_on_posture') or []
    return [check for check in CHECKS if check in checks]


def failed_checks(row, checks=CHECKS):
    posture = row.get('posture') if isinstance(row.get('posture'), dict) else {}
    return [check for check in checks if isinstance(posture.get(check), dict) and posture[check].get('result') == FAIL]


def failing(report, checks):
    if not checks:
        return []
    return [row['name'] for row in report['phones'] if failed_checks(row, checks)]


SENTENCE_NAMES = 10


def sentence_case(text):
    """``text`` with its first letter upper case and the rest as it is (str.capitalize would lower a path or a CVE)."""
    return text[:1].upper() + text[1:]


def posture_sentence(report, limit=SENTENCE_NAMES):
    """The posture part of the paragraph: how many phones fail a check, per check; the phones open to a CVE and those
    that fail the run (fail_on_posture) by name.  '' when the report has no posture."""
    counts = (report.get('summary') or {}).get('posture')
    if not isinstance(counts, dict) or not all(isinstance(counts.get(check), dict) for check in CHECKS):
        return ''
    rows = [row for row in report['phones'] if isinstance(row.get('posture'), dict)]
    failing_any = sum(1 for row in rows if failed_checks(row))
    failed = ['%s %d' % (check, counts[check][FAIL]) for check in CHECKS if counts[check][FAIL]]
    unknown = ['%s %d' % (check, counts[check][UNKNOWN]) for check in CHECKS if counts[check][UNKNOWN]]
    if not rows:
        return ''
    text = 'Posture: %s of %d fail%s a check' % (plural(failing_any, 'phone'), len(rows), 's' if failing_any == 1 else '')
    text += (': %s.' % ', '.join(failed)) if failed else '.'
    if unknown:
        text += ' Unknown: %s.' % ', '.join(unknown)
    cve_rows = [row for row in rows if failed_checks(row, ('firmware_cve',))]
    if cve_rows:
        names = sorted(set(name for row in cve_rows for name in row['posture']['firmware_cve'].get('cves') or []))
        text += ' Open to %s: %s.' % (', '.join(names) or 'a CVE', name_list([row['name'] for row in cve_rows], limit))
    checks = fail_on(report)
    blocking = failing(report, checks)
    if blocking:
        text += ' Failing the run (fail_on_posture %s): %s.' % (', '.join(checks), name_list(blocking, limit))
    return text
