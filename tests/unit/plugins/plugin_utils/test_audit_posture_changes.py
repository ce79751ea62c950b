# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed since the last audit: the comparison of two reports, the previous report read bounded and checked (a
bad one is a warning, never a failure), the sentence of the message and the HTML section."""

import copy
import json
import os

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit_changes
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_changes import changes_since, changes_sentence, compare
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import json_text


def row(name, status='registered', **posture):
    checks = dict((check, {'result': 'pass', 'reason': 'fine'}) for check in ('factory_password', 'ssh_enabled', 'cti_open'))
    checks.update((check, {'result': result, 'reason': 'why'}) for check, result in posture.items())
    return {'name': name, 'host': '10.0.0.1', 'port': 80, 'status': status, 'compliant': status == 'registered',
            'reachable': status != 'unreachable', 'posture': checks}


def report_of(rows, finished='2026-03-01T02:00:04Z'):
    report = registration_check().report(rows, {'finished_at': finished, 'posture': True, 'posture_cves': []})
    return report


BEFORE = [row('a'), row('b'), row('c', status='unregistered'), row('d', ssh_enabled='fail'), row('e', status='unreachable'),
          row('gone')]
AFTER = [row('a', status='unregistered'), row('b', status='unreachable', cti_open='fail'), row('c'),
         row('d'), row('e', status='unregistered'), row('new', ssh_enabled='fail')]


def test_what_is_new_and_what_was_fixed():
    changes = compare(report_of(BEFORE), report_of(AFTER))
    assert changes == {
        'previous': {'finished_at': '2026-03-01T02:00:04Z', 'phones': 6}, 'note': None,
        'newly_unregistered': ['a', 'e'], 'newly_unreachable': ['b'],
        'newly_failing': {'cti_open': ['b']}, 'fixed': {'registration': ['c'], 'ssh_enabled': ['d']},
        'new_phones': ['new'], 'gone_phones': ['gone']}
    report = report_of(AFTER)
    report['changes'] = changes
    assert changes_sentence(report) == (
        'Since the last audit (2026-03-01T02:00:04Z): 2 newly unregistered (a, e); 1 newly unreachable (b); newly failing '
        'cti_open 1 (b); fixed: registered again 1 (c), ssh_enabled 1 (d); 1 phone new; 1 phone no longer audited.')
    assert 'Since the last audit (2026-03-01T02:00:04Z)' in registration_check().message(report)
    html = REGISTRATION_REPORTS['html'][1](report)
    assert '<h2>Since the last audit</h2>' in html and 'newly failing <b>cti_open</b>' in html
    assert 'fixed: <b>ssh_enabled</b> passes' in html and 'Compared with the report of 2026-03-01T02:00:04Z (6 phones).' in html


def test_no_change_and_nothing_to_compare_with():
    report = report_of(BEFORE)
    report['changes'] = compare(report_of(BEFORE), report)
    assert changes_sentence(report) == 'Since the last audit (2026-03-01T02:00:04Z): no change.'
    assert '<p class="ok">No change.</p>' in REGISTRATION_REPORTS['html'][1](report)
    report['changes'] = compare(None, report, 'no earlier report in /x to compare with')
    assert changes_sentence(report) == '' and report['changes']['previous'] is None
    assert '<p>No earlier report in /x to compare with.</p>' in REGISTRATION_REPORTS['html'][1](report)


def test_a_previous_report_without_posture_compares_the_registration_only():
    before = [dict(item) for item in BEFORE]
    for item in before:
        item.pop('posture')
    changes = compare(report_of(before), report_of(AFTER))
    assert changes['newly_failing'] == {} and 'ssh_enabled' not in changes['fixed']
    assert changes['newly_unregistered'] == ['a', 'e']
    assert changes['note'] == 'the previous report has no posture, so posture changes start with this run'


def test_changes_since_reads_the_previous_report_of_the_directory(tmp_path):
    (tmp_path / 'registration_audit.json').write_text(json_text(report_of(BEFORE)))
    changes, warning = changes_since(str(tmp_path), report_of(AFTER), registration_check())
    assert warning is None and changes['newly_unreachable'] == ['b']
    changes, warning = changes_since(str(tmp_path / 'empty'), report_of(AFTER), registration_check())
    assert warning is None and changes['previous'] is None and 'no earlier report in' in changes['note']


def _fifo(path):
    os.mkfifo(str(path))


@pytest.mark.parametrize('make, words', [
    (lambda path: path.write_text('{"summary": '), 'cannot read it as a JSON report'),
    (lambda path: path.write_bytes(b'\xff\xfe'), 'cannot read it as a JSON report'),
    (lambda path: path.write_text(json.dumps({'schema': {'name': 'other', 'version': 1}, 'summary': {}, 'phones': []})),
     'a report of another kind'),
    (lambda path: path.write_text(json.dumps({'summary': {}, 'phones': [
        {'name': 'a', 'status': 'registered', 'posture': {'ssh_enabled': 1}}]})),
     'phone 1 (a): "posture" must be an object of posture checks'),
    (lambda path: path.write_text('[' * 100000 + ']' * 100000), 'cannot read it as a JSON report'),
    (lambda path: path.mkdir(), 'cannot read it as a JSON report'),
    (_fifo, 'not a regular file'),
    (lambda path: path.symlink_to('/dev/zero'), 'not a regular file'),
])
def test_a_bad_previous_report_is_a_warning_not_a_failure(tmp_path, make, words):
    path = tmp_path / 'registration_audit.json'
    make(path)
    changes, warning = changes_since(str(tmp_path), report_of(AFTER), registration_check())
    assert changes['previous'] is None and changes['note'].startswith('the previous report could not be read (')
    assert warning.startswith('The changes since the last audit are not known: %s: could not be read (' % path)
    assert words in warning and warning.endswith('This run replaces it.')


def test_a_previous_report_is_read_bounded(tmp_path, monkeypatch):
    (tmp_path / 'registration_audit.json').write_text(json_text(report_of(BEFORE)) + ' ' * 2048)
    monkeypatch.setattr(audit_changes, 'PREVIOUS_MAX_BYTES', 1024)
    changes, warning = changes_since(str(tmp_path), report_of(AFTER), registration_check())
    assert changes['previous'] is None and 'far more than a report of this collection holds' in warning


def test_names_from_the_previous_report_are_cleaned():
    before = copy.deepcopy(BEFORE) + [row('\x1b[2Jevil' + 'x' * 500)]
    changes = compare(report_of(before), report_of(AFTER))
    gone = [name for name in changes['gone_phones'] if name != 'gone'][0]
    assert '\x1b' not in gone and len(gone) <= 100
