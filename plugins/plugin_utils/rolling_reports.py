# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot's report files (JSON, JUnit XML, CSV) and its summary sentence.

``ROLLING_REPORTS`` is the family's registry (``{format: (file name, render)}``, see ``reports.py``);
a new format is one entry there (and its name in the module's and the role's option choices).
"""

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import csv_text, json_text, junit_xml
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    NOT_ATTEMPTED, OUTCOMES, POLICY_REASONS, PROBLEM_OUTCOMES, REBOOTED, SKIPPED_BUSY, STOP_WINDOW,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list


def rolling_junit(report):
    cases = []
    for phone in report['phones']:
        timings = phone['timings']
        case = {'name': phone['name'], 'classname': 'rolling_reboot.batch_%s' % (phone['batch'] or 'none'),
                'time': timings.get('registered_after') or timings.get('up_after') or 0}
        text = '%s (%s): %s%s. %s' % (phone['name'], phone['host'] or '', phone['outcome'],
                                      ' (%s)' % phone['reason'] if phone['reason'] else '', phone['error'] or phone['note'] or '')
        if phone['outcome'] in PROBLEM_OUTCOMES:
            case['failure'] = {'type': phone['reason'] or phone['outcome'], 'message': phone['error'] or phone['outcome'],
                               'text': text}
        elif phone['outcome'] in (SKIPPED_BUSY, NOT_ATTEMPTED):
            case['skipped'] = '%s: %s' % (phone['outcome'], phone['note'] or '')
        elif phone['note']:
            case['output'] = phone['note']
        cases.append(case)
    summary = report['summary']
    properties = [('run_id', summary['run_id']), ('stopped_reason', summary['stopped_reason'] or '')]
    return junit_xml('rolling_reboot', cases, timestamp=summary['finished_at'], properties=properties)


ROLLING_CSV_COLUMNS = (
    ('name', 'name'), ('host', 'host'), ('outcome', 'outcome'), ('batch', 'batch'),
    ('down_after', lambda row: row['timings'].get('down_after')), ('up_after', lambda row: row['timings'].get('up_after')),
    ('registered_after', lambda row: row['timings'].get('registered_after')),
    ('busy_wait', lambda row: row['timings'].get('busy_wait')), ('error', 'error'), ('note', 'note'),
    ('reason', 'reason'), ('error_class', 'error_class'),
)

ROLLING_REPORTS = {
    'json': ('rolling_reboot.json', json_text),
    'junit': ('rolling_reboot.junit.xml', rolling_junit),
    'csv': ('rolling_reboot.csv', lambda report: csv_text(report['phones'], ROLLING_CSV_COLUMNS)),
}


def rolling_summary_sentence(summary, problem_names, limit=10):
    """One paragraph for people: the counts of each outcome, the reasons of the problems, why the run stopped."""
    total = summary['total']
    text = 'Rolling reboot %s: %d of %d phone%s rebooted' % (summary['run_id'], summary[REBOOTED], total,
                                                             '' if total == 1 else 's')
    others = ['%d %s' % (summary[outcome], outcome) for outcome in OUTCOMES[1:] if summary[outcome]]
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
    if problem_names:
        text += ' Problem phones: %s.' % name_list(problem_names, limit)
    return text
