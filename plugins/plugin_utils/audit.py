# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit: a fleet check (``fleet_check.py``) of three parts, the SIP registration, the device and
its security posture.

:class:`RegistrationPart` reads each phone's accounts and phone status, classifies the phone (``status``) and counts
the statuses and the compliance figure; the device part (``audit_firmware.py``) reads what the phone is and judges
its firmware; the posture part (``audit_posture.py``) reads its security settings and judges them per model.
:func:`registration_check` puts them together.  How they show in the reports is ``audit_reports.py``.

The functions below the part (:func:`audit_registration`, :func:`registration_record`, :func:`registration_summary`,
:func:`build_report`, :func:`report_message`) are the same check seen one step at a time.
"""

import math

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, ERROR, FORBIDDEN, LOCKED, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_firmware import (
    PHONE_TOLD_FIELDS, DevicePart, firmware_sentence,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_changes import ChangesPart
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import PosturePart
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import (
    BAD_VARIABLES, FLAG, NO_PASSCODE, SCALAR, TEXT, CheckPart, FleetCheck, labeled_names, list_of, one_of, short_why,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import clean_text
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import FirmwarePolicy
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import join_words, name_list, plural, short_number

__all__ = ['PHONE_TOLD_FIELDS', 'firmware_sentence']

REGISTERED = 'registered'
UNREGISTERED = 'unregistered'
AUDIT_STATUSES = (REGISTERED, UNREGISTERED, UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR)

# The ``reason`` of an unregistered phone (a code word; ``error`` holds the sentence).
ACCOUNT_MISSING = 'account_missing'                # a required account number the phone does not have
ACCOUNT_NOT_CONFIGURED = 'account_not_configured'  # a required account without a SIP user ID
ACCOUNT_NOT_REGISTERED = 'account_not_registered'  # a configured account the SIP server has not registered
NO_ACCOUNT = 'no_account'                          # no SIP account configured at all

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
    """(status, error, hint) of one phone's normalized accounts: ``error`` says in a sentence why the phone is not
    registered (None when it is).  See :func:`account_verdict` for the code word too.

    ``required``: account ids that must be registered; None or empty: every configured account.
    """
    status, error, hint, dummy = account_verdict(accounts, required)
    return status, error, hint


def account_verdict(accounts, required=None):
    """(status, error sentence, hint, reason code word) of one phone's normalized accounts."""
    if required:
        by_id = dict((account['id'], account) for account in accounts)
        missing = [str(number) for number in required if number not in by_id]
        unconfigured = [by_id[number] for number in required if number in by_id and not by_id[number]['configured']]
        down = [by_id[number] for number in required if number in by_id and by_id[number]['configured']
                and not by_id[number]['registered']]
        sentences = []
        if missing:
            sentences.append('the phone has no account %s' % join_words(missing))
        if unconfigured:
            sentences.append('%s %s not configured' % (join_words(_account_text(account) for account in unconfigured),
                                                       'is' if len(unconfigured) == 1 else 'are'))
        if down:
            sentences.append('%s %s not registered' % (join_words(_account_text(account) for account in down),
                                                       'is' if len(down) == 1 else 'are'))
        if not sentences:
            return REGISTERED, None, None, None
        hint = _UNREGISTERED_HINT if down and not (missing or unconfigured) else _NOT_CONFIGURED_HINT
        reason = ACCOUNT_MISSING if missing else ACCOUNT_NOT_CONFIGURED if unconfigured else ACCOUNT_NOT_REGISTERED
        return UNREGISTERED, '; '.join(sentences) + '.', hint, reason
    configured = [account for account in accounts if account['configured']]
    if not configured:
        return UNREGISTERED, 'no SIP account is configured on the phone.', _NOT_CONFIGURED_HINT, NO_ACCOUNT
    down = [account for account in configured if not account['registered']]
    if down:
        return (UNREGISTERED, '%s %s not registered.' % (join_words(_account_text(account) for account in down),
                                                         'is' if len(down) == 1 else 'are'),
                _UNREGISTERED_HINT, ACCOUNT_NOT_REGISTERED)
    return REGISTERED, None, None, None


def compliance_percent(compliant, total):
    """Percent of compliant phones, rounded down to 2 decimals so that 99.999 never shows as 100."""
    if not total:
        return 100.0
    return math.floor(10000.0 * compliant / total) / 100.0


_ACCOUNT_FIELD_CHECKS = {'id': lambda value: isinstance(value, (int, str)) and not isinstance(value, bool),
                         'configured': lambda value: isinstance(value, bool), 'registered': lambda value: isinstance(value, bool)}


def _is_account(value):
    return isinstance(value, dict) and all(check(value.get(key)) for key, check in _ACCOUNT_FIELD_CHECKS.items()) and \
        all(value.get(key) is None or isinstance(value.get(key), str) for key in ('name', 'sip_id', 'sip_server'))


class RegistrationPart(CheckPart):
    """Are the required SIP accounts of the phone registered?  ``status`` per phone, counts and compliance."""

    name = 'registration'
    fields = {
        'status': one_of(AUDIT_STATUSES),
        'compliant': FLAG.with_default(False),
        'accounts': list_of(_is_account, 'a list of accounts ({"id", "configured": true/false, "registered": '
                                         'true/false, "name", "sip_id", "sip_server"})'),
        'phone_status': TEXT,
        'phone_status_error': TEXT.only_when_set(),
        'lock_minutes': SCALAR.only_when_set(),
    }
    settings = {'required_accounts': list_of(lambda number: isinstance(number, int) and not isinstance(number, bool),
                                             'a list of account numbers')}

    def __init__(self, required=None):
        self.required = [int(number) for number in required or []]

    def read(self, client, target, data):
        # The phone status is read only when the accounts answered: an authentication failure is never repeated.
        accounts = client.get_accounts()
        status, error, hint, reason = account_verdict(accounts, self.required)
        data.update(status=status, accounts=[dict((key, account.get(key)) for key in _ACCOUNT_KEYS) for account in accounts],
                    phone_status=None, error=error, hint=hint, reason=reason)
        try:
            data['phone_status'] = client.get_phone_status()['status']
        except CTIError as exc:
            if exc.error_class != ERROR:
                raise  # a transport, authentication or access failure fails the whole phone
            data['phone_status_error'] = exc.reason  # not supported, or nonsense: the accounts still decide

    def record(self, row, result, target):
        data = result.get('data') or {}
        if result['ok']:
            status = data['status']
            row.update(error=data.get('error'), hint=data.get('hint'), reason=data.get('reason'))
        else:
            status = result['error_class']
            # rejected: the phone refused a read; not_attempted/interrupted, bad variables: registration unknown
            if row.get('reason') == NO_PASSCODE:
                status = AUTH_FAILED  # no passcode to send: the same fix as a passcode the phone rejected
            elif status not in AUDIT_STATUSES or row.get('reason') == BAD_VARIABLES:
                status = ERROR
        row.update(status=status, compliant=status == REGISTERED, accounts=data.get('accounts', []),
                   phone_status=data.get('phone_status'))
        if data.get('lock_minutes') is not None:
            row['lock_minutes'] = data['lock_minutes']
        if data.get('phone_status_error'):
            row['phone_status_error'] = data['phone_status_error']

    def count(self, rows, summary):
        for status in AUDIT_STATUSES:
            summary[status] = 0
        for row in rows:
            summary[row['status']] += 1
        summary['compliance_percent'] = compliance_percent(summary[REGISTERED], len(rows))

    def settings_of(self, options):
        return {'required_accounts': list(self.required)}

    def problems(self, report):
        return {'non_compliant': [row['name'] for row in report['phones'] if not row['compliant']]}

    def sentence(self, report):
        rows = report['phones']
        no_passcode = [row['name'] for row in rows if row.get('reason') == NO_PASSCODE]
        others = [row for row in rows if not row['compliant'] and row.get('reason') != NO_PASSCODE]
        text = summary_sentence(report['summary'], labeled_names(others, SENTENCE_NAMES, _why), SENTENCE_NAMES)
        if no_passcode:
            text += ' No passcode for %s (%s): set grandstream_passcode or GRANDSTREAM_PASSCODE; nothing was sent to %s.' % (
                plural(len(no_passcode), 'phone'), name_list(no_passcode, SENTENCE_NAMES), 'it' if len(no_passcode) == 1 else 'them')
        return text


def _why(row):
    """A few words on why a phone is not compliant: the classification's own short sentence for an unregistered phone
    ('account 2 (1002@pbx.example.net) is not registered'), else the words of its error (fleet_check.short_why)."""
    if row.get('status') == UNREGISTERED and row.get('error'):
        text = clean_text(row['error'], 200, one_line=True).rstrip('.')
        return text if len(text) <= 80 else text[:77].rstrip() + '...'
    return short_why(row)


# How many problem phones a message names (with why); the others are counted.  Bounded for 10,000 phones.
SENTENCE_NAMES = 10


def summary_sentence(summary, non_compliant_names, limit=SENTENCE_NAMES):
    """One paragraph for people: the compliance figure, the counts of each problem and the first problem phones
    (``non_compliant_names``: names, or names with why: fleet_check.labeled_names)."""
    total = summary['total']
    text = 'Registration audit: %d of %d phone%s registered (%s%% compliant).' % (
        summary[REGISTERED], total, '' if total == 1 else 's', short_number(summary['compliance_percent']))
    problems = ['%d %s' % (summary[status], status) for status in AUDIT_STATUSES[1:] if summary[status]]
    if problems:
        text += ' Not compliant: %s.' % ', '.join(problems)
        if non_compliant_names:
            text += ' Phones: %s.' % name_list(non_compliant_names, limit)
    return text


# The JSON report says what it is, so that a merge of sliced audits can refuse anything else.
REPORT_SCHEMA = 'phonefleet.grandstream.registration_audit'
REPORT_VERSION = 2   # 1: 0.1.x, without device and firmware fields (and without this marker); later fields only add


def registration_check(required=None, device=True, policy=None, posture=None):
    """The registration audit as a FleetCheck: registration first (its authentication failure ends the visit before
    anything else is asked), then the device and its firmware verdict (``policy``: a firmware.FirmwarePolicy), then
    the security posture (``posture``: an audit_posture.PosturePolicy; None: off, and the device part makes no web
    login a passcode phone would not need)."""
    return FleetCheck('registration_audit', REPORT_SCHEMA, REPORT_VERSION,
                      [RegistrationPart(required), DevicePart(device, policy or FirmwarePolicy(), web_login=posture is not None),
                       PosturePart(posture), ChangesPart()],
                      accepted_versions=(1, REPORT_VERSION), headline='compliance_percent')


def audit_registration(required=None, device=True):
    """The fan-out work function of the audit (see RegistrationPart.read and audit_firmware.DevicePart.read)."""
    return registration_check(required, device).work()


def registration_record(result, target=None, policy=None):
    """The report row of one phone from its fan-out result; ``policy``: a firmware.FirmwarePolicy (None: no check)."""
    return registration_check(policy=policy).row(result, target)


def registration_summary(records):
    """``{"total", <a count per status>, "firmware_outdated", "firmware_unknown", "default_password",
    "compliance_percent"}`` (see the parts' ``count``)."""
    return registration_check().summary(records)


def build_report(phones, audit):
    """The registration audit report: ``{schema, summary, phones, audit}`` with the summary counted from ``phones``."""
    return registration_check().report(phones, audit)


def report_message(report):
    """The task's paragraph for people, from a report."""
    return registration_check().message(report)
