# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed since the last audit: phones newly unregistered, newly unreachable or newly failing a posture check,
and phones fixed since.

Each run with a report directory reads the previous ``registration_audit.json`` there before its own report set
replaces it (:func:`changes_since`: bounded, a regular file only, checked as a merge checks a slice; a report that
cannot be used is a warning, never a failure) and puts ``changes`` in its report.  A merge does the same against the
previous merged report of its own directory.  :class:`ChangesPart` says it in one sentence of the task's message,
:class:`ChangesReports` in a section of the HTML page.
"""

import os

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import UNREACHABLE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import REPORT_FILE, MergeError, load_report
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import CHECKS, FAIL, PASS, sentence_case
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import CheckPart, ReportPart
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import clean_text, esc, html_table
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, plural

REGISTERED, UNREGISTERED = 'registered', 'unregistered'
# A report of 10,000 phones is about 10 MB; an earlier report far beyond that is not read (a warning says so).
PREVIOUS_MAX_BYTES = 64 * 1024 * 1024
SENTENCE_NAMES = 5
MAX_HTML_NAMES = 200


def changes_since(directory, report, check):
    """(``changes``, warning sentence or None): ``report`` compared with the previous report of ``directory``."""
    path = os.path.join(os.path.abspath(directory), REPORT_FILE)
    if not os.path.lexists(path):
        return compare(None, report, 'no earlier report in %s to compare with' % os.path.dirname(path)), None
    try:
        previous = load_report(path, check, max_bytes=PREVIOUS_MAX_BYTES)
    except MergeError as exc:
        why = str(exc)
        if why.startswith(path + ': '):
            why = why[len(path) + 2:]
        note = 'the previous report could not be read (%s)' % clean_text(why, 300, one_line=True).rstrip('.')
        return compare(None, report, note), ('The changes since the last audit are not known: %s: %s. This run replaces '
                                             'it.' % (path, note[len('the previous report '):]))
    return compare(previous, report), None


def _name(value):
    return clean_text(value, 100, one_line=True)


def _failed(row, check):
    item = (row.get('posture') or {}).get(check) if isinstance(row.get('posture'), dict) else None
    return item.get('result') if isinstance(item, dict) else None


def compare(previous, report, note=None):
    """The ``changes`` of ``report`` since ``previous`` (a report, or None with ``note`` saying why there is none)."""
    changes = {'previous': None, 'note': note, 'newly_unregistered': [], 'newly_unreachable': [],
               'newly_failing': {}, 'fixed': {}, 'new_phones': [], 'gone_phones': []}
    if previous is None:
        return changes
    audit = previous.get('audit') or {}
    changes['previous'] = {'finished_at': _name(audit.get('finished_at')) or None, 'phones': len(previous['phones'])}
    before = dict((row['name'], row) for row in previous['phones'])
    now_names = set()
    compare_posture = any(isinstance(row.get('posture'), dict) for row in previous['phones'])
    if not compare_posture and any(isinstance(row.get('posture'), dict) for row in report['phones']):
        changes['note'] = 'the previous report has no posture, so posture changes start with this run'
    fixed = dict((key, []) for key in ('registration',) + CHECKS)
    failing = dict((check, []) for check in CHECKS)
    for row in report['phones']:
        name = row['name']
        now_names.add(name)
        old = before.get(name)
        if old is None:
            changes['new_phones'].append(name)
            continue
        status, old_status = row.get('status'), old.get('status')
        if status == UNREGISTERED and old_status != UNREGISTERED:
            changes['newly_unregistered'].append(name)
        if status == UNREACHABLE and old_status != UNREACHABLE:
            changes['newly_unreachable'].append(name)
        if status == REGISTERED and old_status != REGISTERED:
            fixed['registration'].append(name)
        if compare_posture:
            for check in CHECKS:
                result, old_result = _failed(row, check), _failed(old, check)
                if result == FAIL and old_result != FAIL:
                    failing[check].append(name)
                elif result == PASS and old_result == FAIL:
                    fixed[check].append(name)
    changes['newly_failing'] = dict((check, names) for check, names in failing.items() if names)
    changes['fixed'] = dict((key, names) for key, names in fixed.items() if names)
    changes['gone_phones'] = [_name(row['name']) for row in previous['phones'] if row['name'] not in now_names]
    return changes


def _compared(report):
    changes = report.get('changes')
    return changes if isinstance(changes, dict) and isinstance(changes.get('previous'), dict) else None


def changes_sentence(report, limit=SENTENCE_NAMES):
    """One sentence: what is new since the last audit, and what was fixed; '' when there was nothing to compare with."""
    changes = _compared(report)
    if changes is None:
        return ''
    parts = []
    for key, words in (('newly_unregistered', 'newly unregistered'), ('newly_unreachable', 'newly unreachable')):
        if changes.get(key):
            parts.append('%d %s (%s)' % (len(changes[key]), words, name_list(changes[key], limit)))
    failing = changes.get('newly_failing') or {}
    if failing:
        parts.append('newly failing %s' % ', '.join(
            '%s %d (%s)' % (check, len(names), name_list(names, limit)) for check, names in failing.items()))
    fixed = changes.get('fixed') or {}
    if fixed:
        parts.append('fixed: %s' % ', '.join(
            '%s %d (%s)' % ('registered again' if key == 'registration' else key, len(names), name_list(names, limit))
            for key, names in fixed.items()))
    for key, words in (('new_phones', 'new'), ('gone_phones', 'no longer audited')):
        if changes.get(key):
            parts.append('%s %s' % (plural(len(changes[key]), 'phone'), words))
    when = changes['previous'].get('finished_at') or 'time unknown'
    return 'Since the last audit (%s): %s.' % (when, '; '.join(parts) if parts else 'no change')


class ChangesPart(CheckPart):
    """The sentence of what changed since the last audit (the report's ``changes``, set by the action)."""

    name = 'changes'

    def sentence(self, report):
        return changes_sentence(report)


class ChangesReports(ReportPart):
    """A section of the HTML page: what changed since the last audit."""

    def html_overview(self, report):
        changes = report.get('changes')
        if not isinstance(changes, dict):
            return ''
        if _compared(report) is None:
            return '<h2>Since the last audit</h2>\n<p>%s.</p>\n' % esc(sentence_case(changes.get('note') or 'nothing to compare with'))
        rows = []
        for key, words in (('newly_unregistered', 'newly unregistered'), ('newly_unreachable', 'newly unreachable')):
            rows.append((esc(words), changes.get(key) or []))
        for check, names in (changes.get('newly_failing') or {}).items():
            rows.append(('newly failing <b>%s</b>' % esc(check), names))
        for key, names in (changes.get('fixed') or {}).items():
            rows.append(('fixed: %s' % ('registered again' if key == 'registration' else '<b>%s</b> passes' % esc(key)), names))
        rows.append(('new phones', changes.get('new_phones') or []))
        rows.append(('no longer audited', changes.get('gone_phones') or []))
        table = html_table(('change', 'phones', 'which'), [
            (label, str(len(names)), esc(name_list(names, MAX_HTML_NAMES))) for label, names in rows if names], numeric=(1,))
        previous = changes['previous']
        heading = '<h2>Since the last audit</h2>\n<p>Compared with the report of %s (%s).%s</p>\n' % (
            esc(previous.get('finished_at') or 'an unknown time'), esc(plural(previous.get('phones') or 0, 'phone')),
            ' %s.' % esc(sentence_case(changes['note'])) if changes.get('note') else '')
        if not any(names for dummy, names in rows):
            return heading + '<p class="ok">No change.</p>\n'
        return heading + table
