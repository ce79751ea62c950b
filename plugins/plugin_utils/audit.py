# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit: what to read from each phone, how to classify it, the report rows and the summary.

:func:`audit_registration` is the work function the fan-out (``fanout.py``) runs against every phone;
:func:`registration_record` turns each fan-out result into a report row; :func:`registration_summary`
counts them.  The report files are written by ``audit_reports.py``.
"""

import math

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, ERROR, FORBIDDEN, LOCKED, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_tasks import read_device
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import INTERRUPTED, NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import (
    OUTDATED, UNKNOWN, FirmwarePolicy,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import join_words, name_list, short_number

REGISTERED = 'registered'
UNREGISTERED = 'unregistered'
AUDIT_STATUSES = (REGISTERED, UNREGISTERED, UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR)

_UNREGISTERED_HINT = ("Check the account's SIP server and credentials on the phone, and that the phone reaches the SIP server "
                      "(VLAN, DNS, firewall).")
_NOT_CONFIGURED_HINT = 'Provision the phone: it has no SIP account configured.'
_ACCOUNT_KEYS = ('id', 'name', 'sip_id', 'sip_server', 'configured', 'registered')


def _account_text(account):
    text = 'account %s' % account['id']
    if account.get('sip_id'):
        text += ' (%s%s)' % (account['sip_id'], '@' + account['sip_server'] if account.get('sip_server') else '')
    return text


def classify_accounts(accounts, required=None):
    """(status, reason, hint) of one phone's normalized accounts.

    ``required``: account ids that must be registered; None or empty: every configured account.
    """
    if required:
        by_id = dict((account['id'], account) for account in accounts)
        missing = [str(number) for number in required if number not in by_id]
        unconfigured = [by_id[number] for number in required if number in by_id and not by_id[number]['configured']]
        down = [by_id[number] for number in required if number in by_id and by_id[number]['configured']
                and not by_id[number]['registered']]
        reasons = []
        if missing:
            reasons.append('the phone has no account %s' % join_words(missing))
        if unconfigured:
            reasons.append('%s %s not configured' % (join_words(_account_text(account) for account in unconfigured),
                                                     'is' if len(unconfigured) == 1 else 'are'))
        if down:
            reasons.append('%s %s not registered' % (join_words(_account_text(account) for account in down),
                                                     'is' if len(down) == 1 else 'are'))
        if not reasons:
            return REGISTERED, None, None
        hint = _UNREGISTERED_HINT if down and not (missing or unconfigured) else _NOT_CONFIGURED_HINT
        return UNREGISTERED, '; '.join(reasons) + '.', hint
    configured = [account for account in accounts if account['configured']]
    if not configured:
        return UNREGISTERED, 'no SIP account is configured on the phone.', _NOT_CONFIGURED_HINT
    down = [account for account in configured if not account['registered']]
    if down:
        return UNREGISTERED, '%s %s not registered.' % (join_words(_account_text(account) for account in down),
                                                        'is' if len(down) == 1 else 'are'), _UNREGISTERED_HINT
    return REGISTERED, None, None


# What the phone tells of itself (cti_tasks.read_device); a failed read leaves each unknown, with the reason.
PHONE_TOLD_FIELDS = ('model', 'firmware', 'mac', 'default_password')


def audit_registration(required=None, device=True):
    """A work function for :func:`fan_out`: read accounts and phone status, classify the phone, and with ``device``
    read what the phone is (model, firmware, MAC, factory password: cti_tasks.read_device) in the same visit.

    The phone status is read only when the accounts answered (an authentication failure is
    never repeated).  A phone whose accounts answer but whose phone status does not exist or
    answers nonsense (class ``error``) is still classified by its accounts; a later transport,
    authentication or access failure makes the whole phone fail with that class.  A device read that
    fails leaves the device fields unknown, with the reason; it never changes the registration status.
    """
    required = [int(number) for number in required or []]

    def work(client, target):
        accounts = client.get_accounts()
        status, reason, hint = classify_accounts(accounts, required)
        data = {
            'status': status,
            'accounts': [dict((key, account.get(key)) for key in _ACCOUNT_KEYS) for account in accounts],
            'phone_status': None,
            'error': reason,
            'hint': hint,
        }
        try:
            data['phone_status'] = client.get_phone_status()['status']
        except CTIError as error:
            if error.error_class != ERROR:
                raise
            data['phone_status_error'] = error.reason
        if device:
            try:
                data['device'] = read_device(client)
            except CTIError as error:
                data['device'] = {'auth': client.connection.auth,
                                  'unknown_reason': dict((field, error.reason) for field in PHONE_TOLD_FIELDS)}
        return data

    return work


def registration_record(result, target=None, policy=None):
    """The report row of one phone from its fan-out result; ``policy``: a firmware.FirmwarePolicy (None: no check).

    ``model`` is what the phone says, else the inventory's ``model`` variable (``model_source`` tells which);
    ``firmware``, ``mac`` and ``default_password`` only what the phone says.
    """
    variables = target.variables if target is not None else {}
    data = result.get('data') or {}
    device = data.get('device') or {}
    if result['ok']:
        status = data['status']
        error, hint = data.get('error'), data.get('hint')
    else:
        status = result['error_class']
        # rejected: the phone refused a read; not_attempted/interrupted: registration unknown
        if status not in AUDIT_STATUSES:
            status = ERROR
        error, hint = result.get('error'), result.get('hint')
    record = {
        'name': result['name'],
        'host': result['host'],
        'port': result['port'],
        'site': _text_or_none(variables.get('site')),
        'model': device.get('model') or _text_or_none(variables.get('model')),
        'model_source': 'phone' if device.get('model') else ('inventory' if variables.get('model') else None),
        'firmware': device.get('firmware'),
        'mac': device.get('mac'),
        'default_password': device.get('default_password'),
        'auth': device.get('auth') or (target.connection.auth if target is not None and target.connection else None),
        'status': status,
        'compliant': status == REGISTERED,
        'reachable': result.get('reachable'),
        'accounts': data.get('accounts', []),
        'phone_status': data.get('phone_status'),
        'error': error,
        'hint': hint,
        'seconds': result.get('seconds'),
    }
    if result.get('error_class') in (NOT_ATTEMPTED, INTERRUPTED):
        record['error_class'] = result['error_class']
    if result.get('http_status') is not None:
        record['http_status'] = result['http_status']
    if data.get('lock_minutes') is not None:
        record['lock_minutes'] = data['lock_minutes']
    if data.get('phone_status_error'):
        record['phone_status_error'] = data['phone_status_error']
    verdict = (policy or FirmwarePolicy()).verdict(record['model'], record['firmware'])
    if verdict['firmware_status'] == UNKNOWN and not result['ok']:
        verdict['firmware_reason'] = 'the phone could not be read'
    elif verdict['firmware_status'] == UNKNOWN and record['firmware'] is None:
        why = (device.get('unknown_reason') or {}).get('firmware')
        if why:
            verdict['firmware_reason'] = '%s: %s' % (verdict['firmware_reason'], why)
    record.update(verdict)
    return record


def _text_or_none(value):
    return None if value is None or value == '' else str(value)


def compliance_percent(compliant, total):
    """Percent of compliant phones, rounded down to 2 decimals so that 99.999 never shows as 100."""
    if not total:
        return 100.0
    return math.floor(10000.0 * compliant / total) / 100.0


def registration_summary(records):
    """``{"total", <a count per status>, "compliance_percent", "firmware_outdated", "firmware_unknown",
    "default_password"}``: the firmware counts are of phones below their minimum and of phones whose verdict is
    unknown (0 when no minimum was set); ``default_password`` counts phones that still have the factory password."""
    summary = {'total': len(records)}
    for status in AUDIT_STATUSES:
        summary[status] = 0
    summary.update(firmware_outdated=0, firmware_unknown=0, default_password=0)
    for record in records:
        summary[record['status']] += 1
        firmware_status = record.get('firmware_status')
        summary['firmware_outdated'] += firmware_status == OUTDATED
        summary['firmware_unknown'] += firmware_status == UNKNOWN
        summary['default_password'] += record.get('default_password') is True
    summary['compliance_percent'] = compliance_percent(summary[REGISTERED], len(records))
    return summary


# The JSON report says what it is, so that a merge of sliced audits can refuse anything else.
REPORT_SCHEMA = 'phonefleet.grandstream.registration_audit'
REPORT_VERSION = 2   # 1: 0.1.x, without device and firmware fields (and without this marker)


def build_report(phones, audit):
    """The registration audit report: ``{schema, summary, phones, audit}`` with the summary counted from ``phones``."""
    return {'schema': {'name': REPORT_SCHEMA, 'version': REPORT_VERSION}, 'summary': registration_summary(phones),
            'phones': phones, 'audit': audit}


def report_message(report):
    """The task's paragraph for people, from a report."""
    summary, phones = report['summary'], report['phones']
    text = summary_sentence(summary, [phone['name'] for phone in phones if not phone['compliant']])
    firmware = firmware_sentence(summary, [phone['name'] for phone in phones if phone.get('firmware_status') == OUTDATED],
                                 checked=bool((report.get('audit') or {}).get('firmware_minimum')))
    return '%s %s' % (text, firmware) if firmware else text


def summary_sentence(summary, non_compliant_names, limit=10):
    """One paragraph for people: the compliance figure, the counts of each problem and the first problem phones."""
    total = summary['total']
    text = 'Registration audit: %d of %d phone%s registered (%s%% compliant).' % (
        summary[REGISTERED], total, '' if total == 1 else 's', short_number(summary['compliance_percent']))
    problems = ['%d %s' % (summary[status], status) for status in AUDIT_STATUSES[1:] if summary[status]]
    if problems:
        text += ' Not compliant: %s.' % ', '.join(problems)
        text += ' Phones: %s.' % name_list(non_compliant_names, limit)
    return text


def firmware_sentence(summary, outdated_names, checked, limit=10):
    """The firmware part of the paragraph: outdated and unknown counts, factory passwords; '' when there is nothing."""
    parts = []
    if checked:
        if summary.get('firmware_outdated'):
            parts.append('%d phone%s below the minimum firmware (%s)' % (
                summary['firmware_outdated'], '' if summary['firmware_outdated'] == 1 else 's',
                name_list(outdated_names, limit)))
        else:
            parts.append('no phone below the minimum firmware')
        if summary.get('firmware_unknown'):
            parts.append('firmware unknown on %d' % summary['firmware_unknown'])
    if summary.get('default_password'):
        parts.append('%d still with the factory password' % summary['default_password'])
    return ('Firmware: %s.' % '; '.join(parts)) if parts else ''
