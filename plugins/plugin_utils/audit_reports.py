# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit's report files: JSON, CSV, JUnit XML, HTML and a Prometheus textfile.

How each part of the audit (``audit.py``, ``audit_firmware.py``) shows in each format: :class:`RegistrationReports`
and :class:`FirmwareReports`, with the posture's (``audit_posture_reports.py``) and the changes since the last audit
(``audit_changes.py``), composed by ``fleet_check.ReportFamily``.  ``REGISTRATION_REPORTS`` is the family's
registry (``{format: (file name, render)}``, see ``reports.py``); a new format is one entry there (and its name in the
module's and the role's option choices), a new part of the audit one ReportPart more in ``REGISTRATION``.
"""

import math

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, ERROR, FORBIDDEN, LOCKED, UNREACHABLE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import AUDIT_STATUSES, REGISTERED, UNREGISTERED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_changes import ChangesReports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture_reports import PostureReports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import (
    COMPLIANT, FIRMWARE_STATUSES, NO_RULE, NOT_CHECKED, OUTDATED, UNKNOWN, parse_version,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import NO_PASSCODE, ReportFamily, ReportPart
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import (
    esc, html_bar, html_stacked_bar, html_table, prometheus_text,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list

# What other files take from here (prometheus_text writes registration_prometheus's families).
__all__ = ['REGISTRATION', 'REGISTRATION_REPORTS', 'FirmwareReports', 'RegistrationReports', 'prometheus_text',
           'registration_html', 'registration_junit', 'registration_prometheus']

STATUS_ORDER = AUDIT_STATUSES
STATUS_COLORS = {
    REGISTERED: '#1a7f37', UNREGISTERED: '#d4a72c', UNREACHABLE: '#cf222e', AUTH_FAILED: '#8250df',
    LOCKED: '#6e40c9', FORBIDDEN: '#bc4c00', ERROR: '#57606a',
}
STATUS_MEANING = {
    REGISTERED: 'every required SIP account is registered',
    UNREGISTERED: 'the phone answers, but a required SIP account is not registered (or none is configured)',
    UNREACHABLE: 'no answer on the network: refused, timed out or reset',
    AUTH_FAILED: 'the phone rejected the passcode (not retried: five wrong passcodes lock it), or no passcode is set '
                 'for it (nothing was sent)',
    LOCKED: 'the phone is locked after repeated wrong passcodes',
    FORBIDDEN: 'CTI is disabled on the phone or the controller IP is not allowed',
    ERROR: 'the phone answered something that is not CTI, the function is not supported, its connection variables '
           'are unusable, or it was not read before the deadline',
}
MAX_HTML_PROBLEMS = 5000
_NO_GROUP = '(none)'


def _accounts_text(accounts):
    parts = []
    for account in _accounts({'accounts': accounts}):
        if not account.get('configured'):
            continue
        parts.append('%s:%s@%s:%s' % (account.get('id'), account.get('sip_id'), account.get('sip_server') or '-',
                                      REGISTERED if account.get('registered') else UNREGISTERED))
    return ' '.join(parts)


REGISTRATION_CSV_COLUMNS = (
    ('name', 'name'),
    ('host', 'host'),
    ('port', 'port'),
    ('site', 'site'),
    ('model', 'model'),
    ('status', 'status'),
    ('compliant', 'compliant'),
    ('reachable', 'reachable'),
    ('phone_status', 'phone_status'),
    ('accounts_configured', lambda row: len([account for account in _accounts(row) if account.get('configured')])),
    ('accounts_registered', lambda row: len([account for account in _accounts(row)
                                             if account.get('configured') and account.get('registered')])),
    ('accounts', lambda row: _accounts_text(row.get('accounts'))),
    ('error', 'error'),
    ('hint', 'hint'),
)
FIRMWARE_CSV_COLUMNS = (
    ('firmware', 'firmware'),
    ('firmware_status', 'firmware_status'),
    ('firmware_compliant', 'firmware_compliant'),
    ('firmware_minimum', 'firmware_minimum'),
    ('firmware_reason', 'firmware_reason'),
    ('default_password', 'default_password'),
    ('mac', 'mac'),
    ('auth', 'auth'),
)


def _accounts(row):
    accounts = row.get('accounts')
    return [account for account in accounts if isinstance(account, dict)] if isinstance(accounts, list) else []


def _address(phone):
    address = '' if phone.get('host') is None else str(phone['host'])
    if phone.get('port') not in (None, 80, 443):
        address = '%s:%s' % (address, phone['port'])
    return address


def _group_rows(phones, key):
    groups = {}
    for phone in phones:
        group = phone.get(key) or _NO_GROUP
        counts = groups.setdefault(group, dict((status, 0) for status in STATUS_ORDER))
        counts[phone['status']] += 1
    rows = []
    for group, counts in groups.items():
        total = sum(counts.values())
        percent = math.floor(10000.0 * counts[REGISTERED] / total) / 100.0
        rows.append((percent, group, total, counts))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _status_badge(status):
    text_color = '#1f2328' if status == UNREGISTERED else '#fff'  # dark text on the light amber
    return '<span class="badge" style="background:%s;color:%s">%s</span>' % (STATUS_COLORS.get(status, '#57606a'), text_color, esc(status))


def _compliance_color(percent):
    if percent >= 100:
        return STATUS_COLORS[REGISTERED]
    return STATUS_COLORS[UNREGISTERED] if percent >= 90 else STATUS_COLORS[UNREACHABLE]


def _group_table(phones, key, title):
    rows = []
    for percent, group, total, counts in _group_rows(phones, key):
        problems = ', '.join('%d %s' % (counts[status], status) for status in STATUS_ORDER[1:] if counts[status])
        rows.append((esc(group), str(total), str(counts[REGISTERED]), '%.2f%%' % percent, html_bar(percent, _compliance_color(percent)),
                     esc(problems) or '<span class="ok">none</span>'))
    return html_table((title, 'phones', 'registered', 'compliance', '', 'problems'), rows, numeric=(1, 2, 3))


FIRMWARE_COLORS = {COMPLIANT: '#1a7f37', OUTDATED: '#cf222e', UNKNOWN: '#57606a', NO_RULE: '#8c959f', NOT_CHECKED: '#8c959f'}


def _version_key(text):
    """Sort key of a firmware string: dotted numbers by value, anything else after them, by its text."""
    text = '' if text is None else str(text)
    version = parse_version(text)
    return (0, version, '') if version is not None else (1, (), text)


def _firmware_section(phones, summary, audit):
    """Model x firmware, sorted by model then version, with the verdict; then the phones below their minimum."""
    groups = {}
    for phone in phones:
        key = (phone.get('model') or '', phone.get('firmware') or '')
        group = groups.setdefault(key, {'count': 0, 'status': phone.get('firmware_status') or NOT_CHECKED,
                                        'minimum': phone.get('firmware_minimum')})
        group['count'] += 1
    rows = []
    for (model, firmware), group in sorted(groups.items(), key=lambda item: (item[0][0].lower(), _version_key(item[0][1]))):
        rows.append((esc(model or 'unknown'), esc(firmware or 'unknown'), str(group['count']), esc(group['minimum'] or ''),
                     _badge(group['status'], FIRMWARE_COLORS)))
    checked = bool(audit.get('firmware_minimum'))
    heading = '<h2>Models and firmware</h2>\n'
    if checked:
        heading += ('<p>%d phone%s below the minimum firmware, %d unknown. Minimums: %s.</p>\n'
                    % (summary.get('firmware_outdated', 0), '' if summary.get('firmware_outdated', 0) == 1 else 's',
                       summary.get('firmware_unknown', 0),
                       esc(', '.join('%s %s' % item for item in audit['firmware_minimum'].items()))))
    if summary.get('default_password'):
        factory = [phone['name'] for phone in phones if phone.get('default_password') is True]
        heading += '<p class="bad">%d phone%s still %s the factory password%s.</p>\n' % (
            summary['default_password'], '' if summary['default_password'] == 1 else 's',
            'has' if summary['default_password'] == 1 else 'have', ': %s' % esc(name_list(factory, 50)) if factory else '')
    parts = [heading, html_table(('model', 'firmware', 'phones', 'minimum', 'verdict'), rows, numeric=(2,))]
    outdated = sorted((phone for phone in phones if phone.get('firmware_status') == OUTDATED),
                      key=lambda phone: ((phone.get('model') or '').lower(), _version_key(phone.get('firmware')), phone['name']))
    if outdated:
        parts.append('<h2>Phones below the minimum firmware (%d)</h2>\n' % len(outdated))
        parts.append(html_table(('phone', 'site', 'model', 'firmware', 'minimum'), [
            (esc(phone['name']), esc(phone.get('site')), esc(phone.get('model')), esc(phone.get('firmware')),
             esc(phone.get('firmware_minimum'))) for phone in outdated[:MAX_HTML_PROBLEMS]]))
    return ''.join(parts)


def _badge(status, colors):
    return '<span class="badge" style="background:%s">%s</span>' % (colors.get(status, '#57606a'), esc(status))


class RegistrationReports(ReportPart):
    """The registration part in each format: columns, a JUnit failure per phone not registered, the status cards,
    compliance per site and model and the phones that need attention, the registration gauges."""

    csv_columns = REGISTRATION_CSV_COLUMNS
    csv_columns_added = (('reason', 'reason'),)

    def junit_failure(self, row, report):
        if row.get('compliant'):
            return None
        text = '%s (%s): %s\n%s%s' % (row['name'], _address(row), row['status'], row.get('error') or '',
                                      '\nWhat to check: %s' % row['hint'] if row.get('hint') else '')
        return {'type': row['status'], 'message': '%s: %s' % (row['status'], row.get('error') or ''), 'text': text}

    def junit_properties(self, report):
        properties = [('compliance_percent', report['summary']['compliance_percent'])]
        required = (report.get('audit') or {}).get('required_accounts')
        if required:
            properties.append(('required_accounts', ','.join(str(number) for number in required)))
        return properties

    def html_overview(self, report):
        summary, phones = report['summary'], report['phones']
        total, percent = summary['total'], summary['compliance_percent']
        verdict = 'ok' if summary[REGISTERED] == total else 'bad'
        cards = ['<div class="card big"><b class="%s">%.2f%%</b><span>compliant</span></div>' % (verdict, percent),
                 '<div class="card"><b>%d</b><span>phones audited</span></div>' % total]
        cards += ['<div class="card"><b style="color:%s">%d</b><span>%s</span></div>' % (
            STATUS_COLORS[status], summary[status], esc(status)) for status in STATUS_ORDER]
        parts = ['<div class="cards">%s</div>\n' % ''.join(cards),
                 html_stacked_bar([(status, summary[status], STATUS_COLORS[status]) for status in STATUS_ORDER]),
                 '<h2>Compliance per site</h2>\n', _group_table(phones, 'site', 'site')]
        if any(phone.get('model') for phone in phones):
            parts += ['<h2>Compliance per model</h2>\n', _group_table(phones, 'model', 'model')]
        return ''.join(parts)

    def html_details(self, report):
        phones = report['phones']
        problems = [phone for phone in phones if not phone['compliant']]
        problems.sort(key=lambda phone: (STATUS_ORDER.index(phone['status']) if phone['status'] in STATUS_ORDER else 99,
                                         phone['name']))
        parts = ['<h2>Phones that need attention (%d)</h2>\n' % len(problems)]
        no_passcode = [phone for phone in problems if phone.get('reason') == NO_PASSCODE]
        if no_passcode:
            one = len(no_passcode) == 1
            parts.append('<p class="bad">No passcode for %d phone%s: set grandstream_passcode or GRANDSTREAM_PASSCODE; '
                         'nothing was sent to %s.</p>\n' % (len(no_passcode), '' if one else 's', 'it' if one else 'them'))
        if problems:
            rows = [(esc(phone['name']), esc(_address(phone)), esc(phone.get('site')), esc(phone.get('model')),
                     esc(phone.get('firmware')), _status_badge(phone['status']), esc(phone.get('error')),
                     '<span class="hint">%s</span>' % esc(phone.get('hint'))) for phone in problems[:MAX_HTML_PROBLEMS]]
            parts.append(html_table(('phone', 'address', 'site', 'model', 'firmware', 'status', 'what is wrong', 'what to check'),
                                    rows))
            if len(problems) > MAX_HTML_PROBLEMS:
                parts.append('<p>%d more in registration_audit.csv.</p>\n' % (len(problems) - MAX_HTML_PROBLEMS))
        else:
            parts.append('<p class="ok">Every audited phone has its required SIP accounts registered.</p>\n')
        parts.append('<h2>What the statuses mean</h2>\n')
        parts.append(html_table(('status', 'meaning'), [(_status_badge(status), esc(STATUS_MEANING[status]))
                                                        for status in STATUS_ORDER]))
        return ''.join(parts)

    def html_footer(self, report):
        required = (report.get('audit') or {}).get('required_accounts')
        return 'Required accounts: %s.' % (', '.join(str(number) for number in required) if required
                                           else 'every configured account')

    def prometheus(self, report):
        phones, summary = report['phones'], report['summary']
        return [
            {'name': 'grandstream_phone_registered',
             'help': '1 when every required SIP account of the phone is registered, else 0 (also when the phone could not be read).',
             'samples': [(_labels(phone), 1 if phone['status'] == REGISTERED else 0) for phone in phones]},
            {'name': 'grandstream_phone_reachable',
             'help': '1 when the phone answered on the network during the registration audit, else 0.',
             'samples': [(_labels(phone), 1 if phone.get('reachable') else 0) for phone in phones]},
            {'name': 'grandstream_phone_audit_status',
             'help': 'Registration audit status of the phone (the status label), always 1.',
             'samples': [(dict(_labels(phone), status=phone['status']), 1) for phone in phones]},
            {'name': 'grandstream_audit_phones',
             'help': 'Phones per registration audit status.',
             'samples': [({'status': status}, summary.get(status, 0)) for status in STATUS_ORDER]},
            {'name': 'grandstream_audit_compliance_ratio',
             'help': 'Share of audited phones whose required accounts are all registered (0 to 1).',
             'samples': [({}, round(summary['compliance_percent'] / 100.0, 6))]},
        ]


class FirmwareReports(ReportPart):
    """The device part in each format: its columns, a JUnit failure for an outdated phone with fail_on_firmware,
    the models and firmware section, the phone_info and firmware gauges."""

    csv_columns = FIRMWARE_CSV_COLUMNS
    csv_columns_added = (('firmware_error', 'firmware_error'),)

    def junit_failure(self, row, report):
        if not (report.get('audit') or {}).get('fail_on_firmware') or row.get('firmware_status') != OUTDATED:
            return None
        return {'type': 'firmware_outdated', 'message': 'firmware_outdated: %s' % row.get('firmware_reason'),
                'text': '%s (%s): %s' % (row['name'], _address(row), row.get('firmware_reason'))}

    def junit_output(self, row, report):
        if not (row.get('model') or row.get('firmware')):
            return None
        return 'model %s, firmware %s (%s)' % (row.get('model') or 'unknown', row.get('firmware') or 'unknown',
                                               row.get('firmware_status') or NOT_CHECKED)

    def junit_properties(self, report):
        if (report.get('audit') or {}).get('firmware_minimum'):
            return [('firmware_outdated', report['summary'].get('firmware_outdated', 0))]
        return []

    def html_overview(self, report):
        phones = report['phones']
        if not any(phone.get('model') or phone.get('firmware') for phone in phones):
            return ''
        return _firmware_section(phones, report['summary'], report.get('audit') or {})

    def prometheus(self, report):
        phones, summary = report['phones'], report['summary']
        return [
            {'name': 'grandstream_phone_info',
             'help': 'What the phone is (model and firmware as it reports them, or empty when unknown), always 1.',
             'samples': [(dict(_labels(phone), firmware=phone.get('firmware') or '', auth=phone.get('auth') or ''), 1)
                         for phone in phones]},
            {'name': 'grandstream_phone_firmware_compliant',
             'help': '1 when the firmware reaches the minimum for the model, 0 when it is below (phones not judged are absent).',
             'samples': [(_labels(phone), 1 if phone.get('firmware_status') == COMPLIANT else 0) for phone in phones
                         if phone.get('firmware_status') in (COMPLIANT, OUTDATED)]},
            {'name': 'grandstream_audit_firmware_phones',
             'help': 'Phones per firmware verdict (compliant, outdated, unknown, no_rule, not_checked).',
             'samples': [({'status': status}, sum(1 for phone in phones if phone.get('firmware_status', NOT_CHECKED) == status))
                         for status in FIRMWARE_STATUSES]},
            {'name': 'grandstream_audit_default_password_phones',
             'help': 'Phones that report they still have the factory password.',
             'samples': [({}, summary.get('default_password', 0))]},
        ]


def _labels(phone):
    return {'name': phone['name'], 'site': phone.get('site') or '', 'model': phone.get('model') or ''}


REGISTRATION = ReportFamily('registration_audit', 'Grandstream registration audit',
                            [RegistrationReports(), FirmwareReports(), PostureReports(), ChangesReports()], 'grandstream_audit')
REGISTRATION_REPORTS = REGISTRATION.registry


def registration_junit(report):
    return REGISTRATION.junit(report)


def registration_html(report):
    return REGISTRATION.html(report)


def registration_prometheus(report):
    """The metric families of the registration audit's textfile (reports.prometheus_text writes them)."""
    return REGISTRATION.prometheus_families(report)
