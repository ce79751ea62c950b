# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the security posture (``audit_posture.py``) shows in each report format of the registration audit.

CSV: one column per check and the reasons of what did not pass (after every earlier column); JUnit: a failure for a
phone that fails a check of ``fail_on_posture``, the other findings in its output; HTML: a table of the checks (how
many phones fail, what to change) and, per failed check, the phones and why; Prometheus: the phones per check and
result, and the failed checks per phone.  A report without posture (posture off, an older report) shows none of it.
"""

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import (
    CHECKS, FAIL, FAILED_MEANS, PASS, RESULTS, UNKNOWN, WHAT_TO_CHANGE, fail_on, failed_checks, sentence_case,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import ReportPart
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import esc, html_table

# How many phones a check's table of the HTML page lists (the CSV has every phone), and how many unknown reasons.
MAX_HTML_PHONES_PER_CHECK = 500
MAX_HTML_UNKNOWN_REASONS = 30
RESULT_COLORS = {PASS: '#1a7f37', FAIL: '#cf222e', UNKNOWN: '#57606a'}


def _posture(row):
    posture = row.get('posture')
    return posture if isinstance(posture, dict) else None


def _result(row, check):
    item = (_posture(row) or {}).get(check)
    return item.get('result') if isinstance(item, dict) else None


def _result_of(check):
    """The CSV column of ``check``: a function of the row."""
    return lambda row: _result(row, check)


def _reason(row, check):
    item = (_posture(row) or {}).get(check)
    return item.get('reason') if isinstance(item, dict) else None


def _has_posture(report):
    counts = (report.get('summary') or {}).get('posture')
    return isinstance(counts, dict) and all(isinstance(counts.get(check), dict) for check in CHECKS)


def _reasons_text(row):
    """What did not pass, one cell: ``ssh_enabled fail: SSH is on (...); cti_open unknown: ...``."""
    posture = _posture(row)
    if posture is None:
        return None
    return '; '.join('%s %s: %s' % (check, _result(row, check), _reason(row, check) or '')
                     for check in CHECKS if _result(row, check) in (FAIL, UNKNOWN))


def _address(row):
    address = '' if row.get('host') is None else str(row['host'])
    if row.get('port') not in (None, 80, 443):
        address = '%s:%s' % (address, row['port'])
    return address


class PostureReports(ReportPart):
    """The posture part in each format."""

    csv_columns_added = tuple(('posture_%s' % check, _result_of(check)) for check in CHECKS) + \
        (('posture_reasons', _reasons_text),)

    def junit_failure(self, row, report):
        checks = failed_checks(row, fail_on(report))
        if not checks:
            return None
        lines = ['%s: %s. What to change: %s' % (check, _reason(row, check), WHAT_TO_CHANGE[check]) for check in checks]
        return {'type': 'posture', 'message': 'posture: %s' % ', '.join(checks),
                'text': '%s (%s): %s' % (row['name'], _address(row), '\n'.join(lines))}

    def junit_output(self, row, report):
        if _posture(row) is None:
            return None
        parts = []
        for result in (FAIL, UNKNOWN):
            checks = [check for check in CHECKS if _result(row, check) == result]
            if checks:
                parts.append('%s %s' % (result, ', '.join(checks)))
        return 'posture: %s' % ('; '.join(parts) if parts else 'every check passes')

    def junit_properties(self, report):
        if not _has_posture(report):
            return []
        counts = report['summary']['posture']
        properties = [('posture_fail_%s' % check, counts[check][FAIL]) for check in CHECKS]
        checks = fail_on(report)
        if checks:
            properties.append(('fail_on_posture', ','.join(checks)))
        return properties

    def html_overview(self, report):
        if not _has_posture(report):
            return ''
        counts, checks = report['summary']['posture'], fail_on(report)
        rows = []
        for check in CHECKS:
            failed = counts[check][FAIL]
            rows.append(('<b>%s</b>%s' % (esc(check), ' (fails the run)' if check in checks else ''),
                         esc(FAILED_MEANS[check]),
                         '<span class="%s">%d</span>' % ('bad' if failed else 'ok', failed),
                         str(counts[check][UNKNOWN]), str(counts[check][PASS]),
                         '<span class="hint">%s</span>' % esc(WHAT_TO_CHANGE[check])))
        return ('<h2>Security posture</h2>\n<p>Seven checks per phone, from the settings it reported in the same visit '
                'and interpreted per model line; <i>unknown</i> means the collection cannot tell for that model or '
                'could not read it (never a guess).</p>\n'
                + html_table(('check', 'a failure means', 'fail', 'unknown', 'pass', 'what to change'), rows,
                             numeric=(2, 3, 4)))

    def html_details(self, report):
        if not _has_posture(report):
            return ''
        phones = report['phones']
        parts = []
        for check in CHECKS:
            failed = [row for row in phones if _result(row, check) == FAIL]
            if not failed:
                continue
            parts.append('<h3>%s: %d phone%s</h3>\n<p>%s. <span class="hint">What to change: %s</span></p>\n' % (
                esc(check), len(failed), '' if len(failed) == 1 else 's', esc(sentence_case(FAILED_MEANS[check])),
                esc(WHAT_TO_CHANGE[check])))
            parts.append(html_table(('phone', 'site', 'model', 'firmware', 'why'), [
                (esc(row['name']), esc(row.get('site')), esc(row.get('model')), esc(row.get('firmware')),
                 esc(_reason(row, check))) for row in failed[:MAX_HTML_PHONES_PER_CHECK]]))
            if len(failed) > MAX_HTML_PHONES_PER_CHECK:
                parts.append('<p>%d more in registration_audit.csv (column posture_%s).</p>\n'
                             % (len(failed) - MAX_HTML_PHONES_PER_CHECK, esc(check)))
        unknown = {}
        for row in phones:
            for check in CHECKS:
                if _result(row, check) == UNKNOWN:
                    key = (check, _reason(row, check) or '')
                    unknown.setdefault(key, []).append(row['name'])
        if unknown:
            ranked = sorted(unknown.items(), key=lambda item: (-len(item[1]), item[0]))
            parts.append('<h3>Unknown, and why</h3>\n')
            parts.append(html_table(('check', 'phones', 'why', 'for example'), [
                (esc(check), str(len(names)), esc(reason), esc(', '.join(names[:3])))
                for (check, reason), names in ranked[:MAX_HTML_UNKNOWN_REASONS]], numeric=(1,)))
            if len(ranked) > MAX_HTML_UNKNOWN_REASONS:
                parts.append('<p>%d more reasons in registration_audit.csv (column posture_reasons).</p>\n'
                             % (len(ranked) - MAX_HTML_UNKNOWN_REASONS))
        if not parts:
            return '<h2>Security posture: phones to change</h2>\n<p class="ok">No phone fails a posture check.</p>\n'
        return '<h2>Security posture: phones to change</h2>\n' + ''.join(parts)

    def html_footer(self, report):
        cves = (report.get('audit') or {}).get('posture_cves')
        if not _has_posture(report) or not isinstance(cves, list):
            return ''
        return 'Firmware CVEs checked: %s.' % (', '.join(str(name) for name in cves) or 'none')

    def prometheus(self, report):
        if not _has_posture(report):
            return []
        counts = report['summary']['posture']
        return [
            {'name': 'grandstream_audit_posture_phones',
             'help': 'Phones per security posture check and result (pass, fail, unknown).',
             'samples': [({'check': check, 'result': result}, counts[check][result]) for check in CHECKS for result in RESULTS]},
            {'name': 'grandstream_phone_posture_failed_checks',
             'help': 'How many security posture checks the phone fails (0 to 7; unknown ones are not counted).',
             'samples': [({'name': row['name'], 'site': row.get('site') or '', 'model': row.get('model') or ''},
                          len(failed_checks(row))) for row in report['phones'] if _posture(row) is not None]},
        ]
