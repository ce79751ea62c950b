# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet report from the JSON reports of a sliced audit (AWX job slicing, or ``--limit`` runs).

:func:`find_reports` turns the inputs (directories, searched for ``registration_audit.json`` at any depth, and files)
into report files; :func:`merge_reports` reads them, refuses what is not the report of one audit split in slices
(another schema, a file that is not JSON or nested beyond reason, a field of the wrong type, phones in two slices,
slices with other settings) and returns one report with the summary counted again.  Every refusal is a sentence that
names the file and what is wrong in it, and comes before anything is written.

What a row may hold and which settings the slices must share are the check's (``fleet_check.FleetCheck.fields``
and ``settings``): a part added to the audit (posture) is checked and kept by the merge without a line here.
"""

import json
import math
import os
import stat

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import row_problem
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import clean_text
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list

REPORT_FILE = 'registration_audit.json'
# A slice of 10,000 phones is about 10 MB; anything far beyond is not one of our reports.
MAX_REPORT_BYTES = 512 * 1024 * 1024
# How deep a value inside a row may nest (the audit's own rows nest three levels).
MAX_DEPTH = 32


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


def load_report(path, check, max_bytes=MAX_REPORT_BYTES):
    """A slice's report, checked by ``check`` (the audit's FleetCheck); raises MergeError naming the file and what is
    wrong.  At most ``max_bytes`` are read, and only from a regular file (a FIFO or a device put in place of a report
    never holds the run)."""
    try:
        report = json.loads(_read_bounded(path, max_bytes).decode('utf-8'))
    except MergeError:
        raise
    except RecursionError:
        raise MergeError('%s: cannot read it as a JSON report (its values are nested too deeply)' % path)
    except (OSError, ValueError) as exc:
        raise MergeError('%s: cannot read it as a JSON report (%s)' % (path, clean_text(exc, 200, one_line=True)))
    if not isinstance(report, dict) or not isinstance(report.get('phones'), list) or not isinstance(report.get('summary'), dict):
        raise MergeError('%s: not a registration audit report (no "summary" and "phones")' % path)
    schema = report.get('schema') or {'name': check.schema_name, 'version': 1}  # 0.1.x wrote no marker
    if not isinstance(schema, dict) or schema.get('name') != check.schema_name:
        raise MergeError('%s: a report of another kind (schema %s), not %s' % (path, _shown(schema), check.schema_name))
    if schema.get('version') not in check.accepted_versions:
        raise MergeError('%s: report schema version %s, which this collection does not know (it writes %d)'
                         % (path, _shown(schema.get('version')), check.schema_version))
    audit = report.get('audit')
    if audit is None:
        report['audit'] = audit = {}
    if not isinstance(audit, dict):
        raise MergeError('%s: "audit" must be an object, not %s' % (path, _shown(audit)))
    for key, spec in check.settings.items():
        if audit.get(key) not in (None, '') and not spec.accepts(audit[key]):
            raise MergeError('%s: "audit.%s" must be %s, not %s' % (path, key, spec.what, _shown(audit[key])))
    fields = check.fields
    status = fields.get('status')
    for number, phone in enumerate(report['phones'], 1):
        if not isinstance(phone, dict) or not isinstance(phone.get('name'), str) or not phone['name'] or \
                (status is not None and not status.accepts(phone.get('status'))):
            raise MergeError('%s: phone %d has no name or no known status' % (path, number))
        problem = row_problem(phone, fields) or _too_deep(phone)
        if problem:
            raise MergeError('%s: phone %d (%s): %s' % (path, number, clean_text(phone['name'], 60, one_line=True), problem))
    return report


def _read_bounded(path, max_bytes):
    descriptor = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    with os.fdopen(descriptor, 'rb') as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise MergeError('%s: not a regular file' % path)
        if info.st_size > max_bytes:
            raise MergeError('%s: %d MB is far more than a report of this collection holds' % (path, info.st_size // (1024 * 1024)))
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise MergeError('%s: more than %d MB, far more than a report of this collection holds' % (path, max_bytes // (1024 * 1024)))
    return data


def _shown(value):
    text = repr(value)
    return clean_text(text if len(text) <= 80 else text[:77] + '...', one_line=True)


def _too_deep(row):
    """Why a row nests beyond MAX_DEPTH (a few words), or None."""
    todo = [(value, 1, key) for key, value in row.items()]
    while todo:
        value, depth, key = todo.pop()
        if depth > MAX_DEPTH:
            return '"%s" is nested deeper than %d levels' % (key, MAX_DEPTH)
        if isinstance(value, dict):
            todo.extend((item, depth + 1, key) for item in value.values())
        elif isinstance(value, list):
            todo.extend((item, depth + 1, key) for item in value)
    return None


def merge_reports(paths, check):
    """One report from the reports of ``paths`` checked by ``check`` (see the module docstring); returns (report,
    slices)."""
    settings_fields = check.settings
    defaults = dict((field, spec.default) for field, spec in check.fields.items() if not spec.optional)
    phones, owner, slices, settings = [], {}, [], None
    for path in paths:
        report = load_report(path, check)
        audit = report['audit']
        these = dict((key, audit.get(key) or spec.default) for key, spec in settings_fields.items())
        if settings is None:
            settings, first = these, path
        elif these != settings:
            raise MergeError('%s and %s are reports of different audits (%s differ); merge the slices of one run'
                             % (first, path, ' and '.join(key for key in settings_fields if these[key] != settings[key])))
        twice = [phone['name'] for phone in report['phones'] if phone['name'] in owner]
        if twice:
            raise MergeError('%s is in %s and in %s: the slices overlap (the same slice twice, or an old report left in '
                             'the directory); merge the reports of one sliced run' % (name_list(twice, 5), owner[twice[0]], path))
        for phone in report['phones']:
            owner[phone['name']] = path
            row = dict((field, default) for field, default in defaults.items() if field not in phone)
            row.update(phone)
            phones.append(row)
        slices.append({'file': path, 'phones': len(report['phones']), 'started_at': _text(audit.get('started_at')),
                       'finished_at': _text(audit.get('finished_at')), 'finished_epoch': _number(audit.get('finished_epoch')),
                       'duration_seconds': _number(audit.get('duration_seconds'))})
    audit = dict(settings or {}, merged_from=slices, slices=len(slices),
                 started_at=min((item['started_at'] for item in slices if item['started_at']), default=None),
                 finished_at=max((item['finished_at'] for item in slices if item['finished_at']), default=None),
                 finished_epoch=max((item['finished_epoch'] for item in slices if item['finished_epoch']), default=None),
                 duration_seconds=round(sum(item['duration_seconds'] or 0 for item in slices), 3))
    return check.report(phones, audit), slices


def _text(value):
    return value if isinstance(value, str) else None


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None
