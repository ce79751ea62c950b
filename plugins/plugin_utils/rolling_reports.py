# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report files of a rolling run (JSON, JUnit XML, CSV, HTML) and its summary sentence.

:func:`rolling_reports` is a change's registry (``{format: (file name, render)}``, see ``reports.py``), its files
named after the change (``rolling_reboot.json``...); ``change_reboot.ROLLING_REPORTS`` is the reboot's.  A new format
is one entry here (and its name in ``module_utils/rolling_options.REPORT_FORMATS``).  Check mode writes only the plan,
``<name>.plan.json``: a plan never replaces the report of the last real run.
"""

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import (
    csv_text, esc, html_page, html_stacked_bar, html_table, json_text, junit_xml,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    POLICY_REASONS, SKIPPED_BUSY, STOP_WINDOW,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list

MAX_HTML_ROWS = 5000
_OK, _BAD, _GREY, _AMBER = '#1a7f37', '#cf222e', '#8c959f', '#d4a72c'


def _printable(value):
    return ''.join(char if char.isprintable() else '?' for char in str(value))


def _esc(value):
    """HTML-escaped text without control characters (a phone's text is hostile until cleaned)."""
    return '' if value is None else esc(_printable(value))


def _junit(change):
    def render(report):
        cases = []
        for phone in report['phones']:
            timings = phone['timings']
            last_step = [timings.get(key) for key in change.timing_keys if timings.get(key) is not None]
            case = {'name': phone['name'], 'classname': '%s.batch_%s' % (change.report_name, phone['batch'] or 'none'),
                    'time': last_step[-1] if last_step else 0}
            text = '%s (%s): %s%s. %s' % (phone['name'], phone['host'] or '', phone['outcome'],
                                          ' (%s)' % phone['reason'] if phone['reason'] else '',
                                          phone['error'] or phone['note'] or '')
            if phone['outcome'] in change.problem_outcomes:
                case['failure'] = {'type': phone['reason'] or phone['outcome'],
                                   'message': phone['error'] or phone['outcome'], 'text': text}
            elif phone['outcome'] in (SKIPPED_BUSY, NOT_ATTEMPTED):
                case['skipped'] = '%s: %s' % (phone['outcome'], phone['note'] or '')
            elif phone['note']:
                case['output'] = phone['note']
            cases.append(case)
        summary = report['summary']
        properties = [('run_id', summary['run_id']), ('stopped_reason', summary['stopped_reason'] or '')]
        return junit_xml(change.report_name, cases, timestamp=summary['finished_at'], properties=properties)
    return render


def _timing_column(key):
    return lambda row: row['timings'].get(key)


def _csv_columns(change):
    timing_columns = tuple((key, _timing_column(key)) for key in change.timing_keys + ('busy_wait',))
    return ((('name', 'name'), ('host', 'host'), ('outcome', 'outcome'), ('batch', 'batch')) + timing_columns
            + (('error', 'error'), ('note', 'note'), ('reason', 'reason'), ('error_class', 'error_class'))
            + tuple((column, column) for column in change.row_columns))


def _outcome_colors(change):
    colors = {change.done: _OK, change.done_earlier: '#2da44e', SKIPPED_BUSY: _AMBER, NOT_ATTEMPTED: _GREY}
    return dict((outcome, colors.get(outcome, _BAD if outcome in change.problem_outcomes else '#57606a'))
                for outcome in change.outcomes)


def _address(phone):
    address = phone.get('host') or ''
    return '%s:%s' % (address, phone['port']) if phone.get('port') not in (None, 80, 443) else address


def _badge(outcome, colors):
    return '<span class="badge" style="background:%s">%s</span>' % (colors.get(outcome, '#57606a'), _esc(outcome))


def _html(change):
    def render(report):
        summary, phones = report['summary'], report['phones']
        colors = _outcome_colors(change)
        parts = ['<div class="cards">%s</div>\n' % ''.join(
            '<div class="card"><b style="color:%s">%d</b><span>%s</span></div>' % (colors[outcome], summary.get(outcome, 0),
                                                                                   _esc(outcome))
            for outcome in change.outcomes)]
        parts.append(html_stacked_bar([(outcome, summary.get(outcome, 0), colors[outcome]) for outcome in change.outcomes]))
        if summary.get('check_mode'):
            parts.append('<p>Check mode: nothing was sent; this is the plan.</p>\n')
        if summary.get('stopped_reason'):
            parts.append('<p class="bad">Stopped (%s): %s</p>\n' % (_esc(summary['stopped_reason']), _esc(summary['stop_message'])))
        problems = [phone for phone in phones if phone['outcome'] in change.problem_outcomes]
        parts.append('<h2>Phones that need attention (%d)</h2>\n' % len(problems))
        if problems:
            parts.append(html_table(('phone', 'address', 'outcome', 'reason', 'batch', 'what happened'), [
                (_esc(phone['name']), _esc(_address(phone)), _badge(phone['outcome'], colors), _esc(phone['reason']),
                 _esc(phone['batch']), _esc(phone['error'] or phone['note'])) for phone in problems[:MAX_HTML_ROWS]]))
            if len(problems) > MAX_HTML_ROWS:
                parts.append('<p>%d more in %s.csv.</p>\n' % (len(problems) - MAX_HTML_ROWS, _esc(change.report_name)))
        else:
            parts.append('<p class="ok">None.</p>\n')
        parts.append(_batches_section(change, phones))
        others = [phone for phone in phones if phone['outcome'] not in change.problem_outcomes + (change.done,)]
        if others:
            parts.append('<h2>Phones not %s by this run (%d)</h2>\n' % (_esc(change.done), len(others)))
            parts.append(html_table(('phone', 'address', 'outcome', 'reason', 'note'), [
                (_esc(phone['name']), _esc(_address(phone)), _badge(phone['outcome'], colors), _esc(phone['reason']),
                 _esc(phone['note'])) for phone in others[:MAX_HTML_ROWS]]))
        parts.append('<footer>Ledger: %s. Generated by phonefleet.grandstream.</footer>\n' % _esc(summary.get('ledger')))
        subtitle = _printable('Run %s, finished %s, %d phones in %.1f s.' % (
            summary['run_id'], summary['finished_at'], summary['total'], float(summary['duration_seconds'])))
        return html_page('Grandstream %s' % change.title.lower(), ''.join(parts), subtitle=subtitle)
    return render


def _batches_section(change, phones):
    batches = {}
    for phone in phones:
        if phone['batch'] is not None and phone['outcome'] != change.done_earlier:
            batches.setdefault(phone['batch'], []).append(phone)
    if not batches:
        return ''
    last_key = change.timing_keys[-1] if change.timing_keys else None
    rows = []
    for number in sorted(batches):
        members = batches[number]
        done = sum(1 for phone in members if phone['outcome'] == change.done)
        slowest = max([phone['timings'].get(last_key) or 0 for phone in members] or [0])
        rows.append((str(number), str(len(members)), str(done), str(len(members) - done), '%.1f' % slowest))
    return '<h2>Batches</h2>\n' + html_table(('batch', 'phones', change.done, 'not %s' % change.done,
                                              'slowest (s)'), rows, numeric=(0, 1, 2, 3, 4))


def rolling_reports(change):
    """The report registry of ``change``: ``{format: (file name, render)}``."""
    return {
        'json': ('%s.json' % change.report_name, json_text),
        'junit': ('%s.junit.xml' % change.report_name, _junit(change)),
        'csv': ('%s.csv' % change.report_name, lambda report: csv_text(report['phones'], _csv_columns(change))),
        'html': ('%s.html' % change.report_name, _html(change)),
    }


def plan_report(change):
    """What check mode writes: the plan, never the report of the last real run."""
    return {'plan': ('%s.plan.json' % change.report_name, json_text)}


def rolling_summary_sentence(change, summary, problems, limit=10):
    """One paragraph for people: the counts of each outcome, the reasons of the problems, why the run stopped, and the
    problem phones with their reason (``problems``: ``(name, reason)`` pairs)."""
    total = summary['total']
    text = '%s %s: %d of %d phone%s %s' % (change.title, summary['run_id'], summary[change.done], total,
                                           '' if total == 1 else 's', change.done)
    others = ['%d %s' % (summary[outcome], outcome) for outcome in change.outcomes[1:] if summary.get(outcome)]
    if others:
        text += ', ' + ', '.join(others)
    text += '.'
    problem_reasons = dict((reason, count) for reason, count in summary['reasons'].items() if reason not in POLICY_REASONS)
    if problem_reasons:
        text += ' Reasons: %s.' % ', '.join('%s %d' % item for item in sorted(problem_reasons.items()))
    if summary['check_mode']:
        text += ' Check mode: nothing was sent.'
    if summary['stopped_reason'] == STOP_WINDOW:
        text += ' Stopped for the maintenance window: %s' % summary['stop_message']
    elif summary['stopped_reason']:
        text += ' Stopped: %s' % summary['stop_message']
    if problems:
        named = [('%s (%s)' % (name, reason) if reason else name) for name, reason in problems]
        text += ' Problem phones: %s.' % name_list(named, limit)
    return text
