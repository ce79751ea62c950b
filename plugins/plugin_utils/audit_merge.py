# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet report from the JSON reports of a sliced audit (AWX job slicing, or ``--limit`` runs).

:func:`find_reports` turns the inputs (directories, searched for ``registration_audit.json`` at any depth, and files)
into report files; :func:`merge_reports` reads them, refuses what is not the report of one audit split in slices
(another schema, phones in two slices, slices with other required accounts or firmware minimums) and returns one
report with the summary counted again.  Every refusal is a sentence that names the file.
"""

import json
import os

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import (
    AUDIT_STATUSES, REPORT_SCHEMA, REPORT_VERSION, build_report,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import NOT_CHECKED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list

REPORT_FILE = 'registration_audit.json'
# What a phone of a 0.1.x report (schema version 1) lacks; filled in so that every merged phone has the same fields.
V1_DEFAULTS = {'model_source': None, 'firmware': None, 'mac': None, 'default_password': None, 'auth': None,
               'firmware_status': NOT_CHECKED, 'firmware_compliant': None, 'firmware_minimum': None, 'firmware_reason': None}
# The settings that make two slices parts of one audit: they must agree.
AUDIT_SETTINGS = ('required_accounts', 'firmware_minimum')


class MergeError(ValueError):
    """The inputs are not the slices of one audit; the message says which file and why."""


def find_reports(inputs, exclude=None):
    """The report files of ``inputs`` (files, or directories searched at any depth), each once, sorted by path.

    ``exclude``: a directory whose reports are never taken (the merge's own output).
    """
    if not inputs:
        raise MergeError('no slice report to merge: registration_audit_merge_inputs is empty (is there a sliced audit '
                         'before this merge?)')
    exclude = os.path.realpath(exclude) if exclude else None
    found = []
    for item in inputs:
        path = os.path.abspath(os.path.expanduser(str(item)))
        if os.path.isdir(path):
            for directory, dirs, files in os.walk(path):
                dirs.sort()
                if exclude and os.path.realpath(directory) == exclude:
                    continue
                if REPORT_FILE in files:
                    found.append(os.path.join(directory, REPORT_FILE))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise MergeError('%s: no such file or directory' % path)
    unique = sorted(set(os.path.realpath(path) for path in found))
    if not unique:
        raise MergeError('no %s in %s' % (REPORT_FILE, ', '.join(str(item) for item in inputs)))
    return unique


def load_report(path):
    """A slice's report, checked; raises MergeError naming the file."""
    try:
        with open(path, encoding='utf-8') as handle:
            report = json.load(handle)
    except (OSError, ValueError) as exc:
        raise MergeError('%s: cannot read it as a JSON report (%s)' % (path, exc))
    if not isinstance(report, dict) or not isinstance(report.get('phones'), list) or not isinstance(report.get('summary'), dict):
        raise MergeError('%s: not a registration audit report (no "summary" and "phones")' % path)
    schema = report.get('schema') or {'name': REPORT_SCHEMA, 'version': 1}  # 0.1.x wrote no marker
    if not isinstance(schema, dict) or schema.get('name') != REPORT_SCHEMA:
        raise MergeError('%s: a report of another kind (schema %r), not %s' % (path, schema, REPORT_SCHEMA))
    if schema.get('version') not in (1, REPORT_VERSION):
        raise MergeError('%s: report schema version %r, which this collection does not know (it writes %d)'
                         % (path, schema.get('version'), REPORT_VERSION))
    for number, phone in enumerate(report['phones'], 1):
        if not isinstance(phone, dict) or not isinstance(phone.get('name'), str) or phone.get('status') not in AUDIT_STATUSES:
            raise MergeError('%s: phone %d has no name or no known status' % (path, number))
    return report


def merge_reports(paths):
    """One report from the reports of ``paths`` (see the module docstring); returns (report, slices)."""
    phones, owner, slices, settings = [], {}, [], None
    for path in paths:
        report = load_report(path)
        audit = report.get('audit') or {}
        these = dict((key, audit.get(key) or ([] if key == 'required_accounts' else {})) for key in AUDIT_SETTINGS)
        if settings is None:
            settings, first = these, path
        elif these != settings:
            raise MergeError('%s and %s are reports of different audits (%s differ); merge the slices of one run'
                             % (first, path, ' and '.join(key for key in AUDIT_SETTINGS if these[key] != settings[key])))
        twice = [phone['name'] for phone in report['phones'] if phone['name'] in owner]
        if twice:
            raise MergeError('%s is in %s and in %s: the slices overlap (the same slice twice, or an old report left in '
                             'the directory); merge the reports of one sliced run' % (name_list(twice, 5), owner[twice[0]], path))
        for phone in report['phones']:
            owner[phone['name']] = path
            phones.append(dict(V1_DEFAULTS, **phone))
        slices.append({'file': path, 'phones': len(report['phones']), 'started_at': audit.get('started_at'),
                       'finished_at': audit.get('finished_at'), 'finished_epoch': audit.get('finished_epoch'),
                       'duration_seconds': audit.get('duration_seconds')})
    audit = dict(settings, merged_from=slices, slices=len(slices),
                 started_at=min((item['started_at'] for item in slices if item['started_at']), default=None),
                 finished_at=max((item['finished_at'] for item in slices if item['finished_at']), default=None),
                 finished_epoch=max((item['finished_epoch'] for item in slices if item['finished_epoch']), default=None),
                 duration_seconds=round(sum(item['duration_seconds'] or 0 for item in slices), 3))
    return build_report(phones, audit), slices
