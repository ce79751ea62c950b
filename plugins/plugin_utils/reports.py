# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writing for every report family: one writer of a whole report set, one dispatcher, the formats' pieces.

A report family (``audit_reports.py``, ``rolling_reports.py``) is a registry ``{format: (file name, render)}``
where ``render(report)`` returns the file's text; :func:`write_report_set` writes the chosen formats of one report.
Adding a format is one registry entry.

The pieces: CSV rows that spreadsheets cannot turn into formulas, JUnit XML that stays valid whatever the
text holds, the Prometheus text exposition format, and HTML pieces with inline CSS.  Every piece survives any
Python string in any field (lone surrogates, control characters, NUL, newlines, a megabyte of text): text from a
phone is cleaned where it enters, and again here, where it leaves.

A report set is replaced as a whole or not at all: every format is rendered first, then written to temporary
files beside their targets, and only when all of them are on disk are they renamed into place.  A full disk or a
read-only directory leaves the previous set as it was (and says so); a format that cannot be rendered leaves no
file of an earlier run that could pass for current.  Temporary files that a killed run left behind are removed at
the next write.
"""

import csv
import datetime
import errno
import html
import io
import json
import math
import os
import re
import tempfile
import time
import xml.etree.ElementTree as ET

try:  # POSIX: a writer locks its temporary files, so that a later run can tell a dead writer's leftovers
    import fcntl
except ImportError:  # pragma: no cover - the controller is POSIX
    fcntl = None

REPLACEMENT = '\ufffd'
# Lone surrogates (a phone's "\ud800" is valid JSON) cannot be encoded; C0 and C1 controls, DEL and ESC among them,
# can drive a terminal that shows a report.  Tab, newline and carriage return are kept where a format allows them.
_UNSAFE_TEXT = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]')
_UNSAFE_LINE = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')
# How much of one text a human-readable format shows (the JSON report keeps every character).
CSV_CELL_MAX = 32000        # a spreadsheet cell holds 32,767 characters
HTML_TEXT_MAX = 2000
JUNIT_TEXT_MAX = 8000
LABEL_VALUE_MAX = 1000


def clean_text(value, limit=None, one_line=False):
    """``value`` as text a report or a terminal can hold: None is empty; lone surrogates and control characters
    become U+FFFD (tab, newline and carriage return stay unless ``one_line``); at most ``limit`` characters,
    the cut marked with an ellipsis."""
    text = '' if value is None else value if isinstance(value, str) else str(value)
    text = (_UNSAFE_LINE if one_line else _UNSAFE_TEXT).sub(REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[:max(0, limit - 1)] + '\u2026'
    return text


class ReportSetError(OSError):
    """A report set could not be written: ``str(error)`` says which file, why, and what was kept or removed.

    ``filename`` and ``strerror`` are those of the failure, as for any OSError; ``written`` maps the formats
    that were written anyway (a format that failed to render) to their paths.
    """

    def __init__(self, sentence, error_number=None, strerror=None, filename=None, written=None):
        super(ReportSetError, self).__init__(error_number or errno.EIO, strerror or sentence)
        self.filename = filename
        self.sentence = sentence
        self.written = dict(written or {})

    def __str__(self):
        return self.sentence


def write_reports(registry, report, directory, formats, directories=None):
    """Write the chosen ``formats`` of ``report`` as one set (:func:`write_report_set`); returns ``{format: path}``.

    Kept for the report families that call it by this name; raises ReportSetError (an OSError).
    """
    return write_report_set(registry, report, directory, formats, directories)


def write_report_set(registry, report, directory, formats, directories=None, now=None):
    """Render the chosen ``formats`` of ``report``, then replace that set of files as a whole; returns ``{format: path}``.

    ``registry``: ``{format: (file name, render)}``; ``directories``: ``{format: directory}`` for a format that
    goes elsewhere (the Prometheus textfile into node_exporter's directory).  Directories are created.

    - Every format is rendered before anything is written.  A format whose renderer fails is not written, and the
      file of that format from an earlier run is removed, so that it cannot pass for this run's; the others are
      written, and ReportSetError names the format that failed.
    - Every file is written to a temporary file beside its target and synced; when one of them cannot be written
      (a full disk, a read-only directory), every temporary file is removed and the previous set stays as it was:
      ReportSetError names the file, the cause and the files kept.
    - Only then are the files renamed into place, and their directories synced.
    """
    unknown = sorted(set(formats) - set(registry))
    if unknown:
        raise ValueError('unknown report format(s) %s; known: %s' % (', '.join(unknown), ', '.join(registry)))
    chosen = [kind for kind in registry if kind in formats]
    paths = dict((kind, os.path.join(os.path.abspath((directories or {}).get(kind) or directory), registry[kind][0]))
                 for kind in chosen)
    rendered, render_failures = {}, {}
    for kind in chosen:
        try:
            rendered[kind] = registry[kind][1](report).encode('utf-8', 'replace')
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # A bug in one format must not cost the others; it is named below, never hidden.
            render_failures[kind] = '%s: %s' % (type(exc).__name__, clean_text(exc, 200, one_line=True))

    temporaries, failed = {}, directory
    try:
        for folder in sorted(set(os.path.dirname(path) for path in paths.values())):
            failed = folder
            os.makedirs(folder, exist_ok=True)
            remove_stale_temporaries(folder, [os.path.basename(path) for path in paths.values()
                                              if os.path.dirname(path) == folder], now=now)
        for kind in chosen:
            if kind in rendered:
                failed = paths[kind]
                temporaries[kind] = _write_temporary(paths[kind], rendered[kind])
    except OSError as exc:
        for temporary in temporaries.values():
            _remove(temporary)
        failed = failed if exc.filename is None or str(exc.filename).endswith('.tmp') else exc.filename
        kept = [path for path in (paths[other] for other in chosen) if os.path.exists(path)]
        raise ReportSetError(
            '%s: %s. Nothing of this run was written%s.' % (
                failed, exc.strerror or exc,
                '; the previous reports were kept as they were: %s' % ', '.join(kept) if kept else ''),
            exc.errno, exc.strerror, failed)

    written, renamed = {}, []
    try:
        for kind in chosen:
            if kind in temporaries:
                os.replace(temporaries[kind], paths[kind])
                written[kind] = paths[kind]
                renamed.append(kind)
    except OSError as exc:
        # Very unlikely once every file is on disk; never leave files of two runs side by side.
        for temporary in temporaries.values():
            _remove(temporary)
        removed = [paths[other] for other in chosen if other not in renamed and _remove(paths[other])]
        raise ReportSetError('%s: %s while the reports were put in place. Written: %s%s.' % (
            exc.filename or paths[kind], exc.strerror or exc, ', '.join(written.values()) or 'none',
            '; removed, so that they do not pass for this run: %s' % ', '.join(removed) if removed else ''),
            exc.errno, exc.strerror, exc.filename or paths[kind], written)
    for folder in sorted(set(os.path.dirname(path) for path in written.values())):
        _sync_directory(folder)

    if render_failures:
        removed = [paths[kind] for kind in render_failures if _remove(paths[kind])]
        raise ReportSetError(
            'the %s report could not be made (%s). The other reports were written: %s%s. This is a bug in the '
            'collection; please report it.' % (
                ' and '.join(sorted(render_failures)), '; '.join('%s: %s' % item for item in sorted(render_failures.items())),
                ', '.join(written.values()) or 'none',
                '; the earlier %s was removed, so that it does not pass for this run\'s' % ', '.join(removed) if removed else ''),
            errno.EINVAL, 'a report could not be made', paths[sorted(render_failures)[0]], written)
    return written


def _write_temporary(target, data):
    """Write ``data`` to a new temporary file beside ``target``, locked while it is written, and sync it; returns its path.

    The name (``.<file name>.XXXXXXXX.tmp``, hidden, not ending in .prom) is the one remove_stale_temporaries knows.
    """
    directory, name = os.path.split(target)
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            if fcntl is not None:
                try:
                    fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    pass  # a file system without locks: remove_stale_temporaries goes by age there
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        _remove(temporary)
        raise
    return temporary


# A temporary file left by a killed writer is removed when nobody holds its lock and it is older than this;
# where locks do not work, when it is older than STALE_UNLOCKED_SECONDS.
STALE_LOCKED_SECONDS = 60
STALE_UNLOCKED_SECONDS = 600


def temporary_pattern(file_name):
    """The names of the temporary files of ``file_name`` (tempfile's 8 random characters between the dots)."""
    return re.compile(r'^\.%s\.[a-z0-9_]{8}\.tmp$' % re.escape(file_name))


def remove_stale_temporaries(directory, file_names, now=None):
    """Remove the temporary files of ``file_names`` in ``directory`` that a killed writer left behind; returns their paths.

    Only names of our own pattern are touched.  A file whose lock someone holds (a writer at work) is left alone;
    so is one younger than a minute (its writer may not have locked it yet).
    """
    patterns = [temporary_pattern(name) for name in file_names]
    now = time.time() if now is None else now
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if not any(pattern.match(entry) for pattern in patterns):
            continue
        path = os.path.join(directory, entry)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        if age < STALE_LOCKED_SECONDS:
            continue
        if _abandoned(path, age) and _remove(path):
            removed.append(path)
    return removed


def _abandoned(path, age):
    """True when no process holds the lock of ``path`` (or, without working locks, when it is old)."""
    if fcntl is None:
        return age >= STALE_UNLOCKED_SECONDS
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False  # a writer holds it
        return age >= STALE_UNLOCKED_SECONDS
    finally:
        os.close(descriptor)
    return True


def _remove(path):
    """Remove a file; True when it was there."""
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _sync_directory(directory):
    """A rename is durable only once its directory is: without this, a power loss can bring back the old file."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# Characters JSON may hold raw but that must not reach a file as they are: lone surrogates (they cannot be encoded)
# and C1 controls (a terminal may act on them).  JSON escapes them as \uXXXX, so the report keeps every character.
_JSON_ESCAPED = re.compile('[\x7f-\x9f\ud800-\udfff]')


def json_text(data):
    """The JSON report: UTF-8 text a terminal can show, whatever the strings hold; values JSON has no type for are text."""
    text = json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False, default=_json_default)
    if _JSON_ESCAPED.search(text):
        text = _JSON_ESCAPED.sub(lambda match: '\\u%04x' % ord(match.group()), text)
    return text + '\n'


def _json_default(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return str(value)


_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def csv_cell(value):
    """A CSV cell: None is empty, booleans are true/false, text that a spreadsheet would run as a formula gets a quote."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value)
    text = clean_text(value, CSV_CELL_MAX)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(rows, columns):
    """CSV with a header row.  ``columns``: (header, key) pairs; key is a dict key or a function of the row."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator='\r\n')
    writer.writerow([csv_cell(header) for header, dummy in columns])
    for row in rows:
        writer.writerow([csv_cell(key(row) if callable(key) else row.get(key)) for dummy, key in columns])
    return stream.getvalue()


# XML 1.0 forbids most control characters even when escaped (ElementTree would write them as they are), and lone
# surrogates cannot be encoded; DEL and the C1 controls are allowed but could drive a terminal.
_XML_INVALID = re.compile('[^\u0009\u000a\u000d\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def xml_safe(value, limit=JUNIT_TEXT_MAX):
    text = _XML_INVALID.sub(REPLACEMENT, '' if value is None else value if isinstance(value, str) else str(value))
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + '\u2026'
    return text


def junit_xml(suite_name, cases, timestamp=None, properties=None):
    """JUnit XML text: one ``<testsuite>`` inside ``<testsuites>``.

    ``cases``: dicts with ``name``, ``classname``, ``time`` (seconds) and optionally ``failure``,
    ``error`` (each ``{'type', 'message', 'text'}``), ``skipped`` (a message) and ``output`` (system-out).
    """
    tests = len(cases)
    failures = sum(1 for case in cases if case.get('failure'))
    errors = sum(1 for case in cases if case.get('error'))
    skipped = sum(1 for case in cases if case.get('skipped'))
    total_time = '%.3f' % sum(_seconds(case.get('time')) for case in cases)
    counts = {'tests': str(tests), 'failures': str(failures), 'errors': str(errors), 'skipped': str(skipped), 'time': total_time}
    root = ET.Element('testsuites', dict(counts, name=xml_safe(suite_name)))
    suite_attributes = dict(counts, name=xml_safe(suite_name))
    if timestamp:
        suite_attributes['timestamp'] = xml_safe(timestamp)
    suite = ET.SubElement(root, 'testsuite', suite_attributes)
    if properties:
        element = ET.SubElement(suite, 'properties')
        for key, value in properties:
            ET.SubElement(element, 'property', {'name': xml_safe(key), 'value': xml_safe(value)})
    for case in cases:
        testcase = ET.SubElement(suite, 'testcase', {
            'classname': xml_safe(case.get('classname') or suite_name),
            'name': xml_safe(case['name']),
            'time': '%.3f' % _seconds(case.get('time')),
        })
        for kind in ('failure', 'error'):
            problem = case.get(kind)
            if problem:
                element = ET.SubElement(testcase, kind, {'type': xml_safe(problem.get('type')), 'message': xml_safe(problem.get('message'))})
                element.text = xml_safe(problem.get('text') or problem.get('message'))
        if case.get('skipped'):
            ET.SubElement(testcase, 'skipped', {'message': xml_safe(case['skipped'])})
        if case.get('output'):
            ET.SubElement(testcase, 'system-out').text = xml_safe(case['output'])
    if hasattr(ET, 'indent'):  # Python 3.9+: one element per line for people who open the file
        ET.indent(root)
    body = ET.tostring(root, encoding='unicode')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + '\n'


def _seconds(value):
    """A duration for the report: a finite number of seconds, else 0."""
    try:
        value = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


_METRIC_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
METRIC_TYPES = ('gauge', 'counter', 'untyped')


def _label_value(value):
    # The format escapes backslash, quote and newline; any other control character (or a lone surrogate) is replaced.
    text = clean_text(value, LABEL_VALUE_MAX).replace('\r', REPLACEMENT).replace('\t', ' ')
    return text.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _sample_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(value)


def prometheus_text(families):
    """The Prometheus text exposition format (version 0.0.4).

    ``families``: dicts ``{'name', 'help', 'type' ('gauge' by default), 'samples': [(labels dict, value), ...]}``.
    Every family gets its HELP and TYPE lines, then its samples; label values are escaped.
    """
    lines = []
    seen = set()
    for family in families:
        name = family['name']
        if not _METRIC_NAME.match(name):
            raise ValueError('%r is not a valid metric name' % name)
        if name in seen:
            raise ValueError('metric family %r appears twice' % name)
        seen.add(name)
        kind = family.get('type', 'gauge')
        if kind not in METRIC_TYPES:
            raise ValueError('metric type %r is not one of %s' % (kind, ', '.join(METRIC_TYPES)))
        help_text = clean_text(family.get('help', ''), LABEL_VALUE_MAX).replace('\r', ' ').replace('\t', ' ')
        lines.append('# HELP %s %s' % (name, help_text.replace('\\', '\\\\').replace('\n', '\\n')))
        lines.append('# TYPE %s %s' % (name, kind))
        for labels, value in family.get('samples', ()):
            for label in labels:
                if not _LABEL_NAME.match(label) or label.startswith('__'):
                    raise ValueError('%r is not a valid label name' % label)
            text = ','.join('%s="%s"' % (label, _label_value(labels[label])) for label in labels)
            lines.append('%s%s %s' % (name, '{%s}' % text if text else '', _sample_value(value)))
    return '\n'.join(lines) + '\n'


def esc(value, limit=HTML_TEXT_MAX):
    """HTML-escaped text (quotes included), cleaned (clean_text) and cut at ``limit`` characters; None is empty."""
    return html.escape(clean_text(value, limit), quote=True)


HTML_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1f2328;background:#fff;line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#59636e;margin:0 0 1.2rem}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .9rem;min-width:7rem}
.card b{display:block;font-size:1.5rem}.card span{color:#59636e;font-size:.85rem}
.big b{font-size:2.2rem}
.stack{display:flex;height:1.6rem;border-radius:4px;overflow:hidden;border:1px solid #d0d7de;margin:.4rem 0}
.stack div{height:100%}
.legend span{display:inline-block;margin:0 1rem .3rem 0;font-size:.9rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eaeef2;border-radius:3px;height:.8rem;width:10rem;overflow:hidden}
.bar div{height:100%;background:#1a7f37}
.badge{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.8rem;color:#fff;white-space:nowrap}
.ok{color:#1a7f37}.bad{color:#cf222e}
.hint{color:#59636e}
footer{margin-top:2rem;color:#59636e;font-size:.85rem}
"""


def html_page(title, body, subtitle=None):
    """A self-contained HTML page (inline CSS, no script, no external asset).  ``body`` is HTML already escaped."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<h1>%s</h1>\n%s%s\n</body>\n</html>\n'
        % (esc(title), HTML_STYLE, esc(title), '<p class="meta">%s</p>\n' % esc(subtitle) if subtitle else '', body)
    )


def html_table(headers, rows, numeric=()):
    """A table; ``rows`` hold HTML already escaped; columns whose index is in ``numeric`` align right."""
    head = ''.join('<th%s>%s</th>' % (' class="num"' if index in numeric else '', esc(header)) for index, header in enumerate(headers))
    body = ''.join('<tr>%s</tr>\n' % ''.join('<td%s>%s</td>' % (' class="num"' if index in numeric else '', cell)
                                             for index, cell in enumerate(row)) for row in rows)
    return '<table>\n<thead><tr>%s</tr></thead>\n<tbody>\n%s</tbody>\n</table>\n' % (head, body)


def html_bar(percent, color=None):
    """A horizontal bar filled to percent (CSS only)."""
    percent = max(0.0, min(100.0, float(percent)))
    style = 'width:%.2f%%' % percent
    if color:
        style += ';background:%s' % color
    return '<div class="bar" role="img" aria-label="%.2f%%"><div style="%s"></div></div>' % (percent, style)


def html_stacked_bar(parts):
    """One bar split in parts ``(label, count, color)`` with a legend under it."""
    total = sum(count for dummy, count, dummy in parts) or 1
    segments = ''.join('<div style="width:%.4f%%;background:%s" title="%s: %d"></div>' % (100.0 * count / total, color, esc(label), count)
                       for label, count, color in parts if count)
    legend = ''.join('<span><i style="background:%s"></i>%s: %d</span>' % (color, esc(label), count) for label, count, color in parts)
    return '<div class="stack" role="img" aria-label="%s">%s</div>\n<div class="legend">%s</div>\n' % (
        esc(', '.join('%s %d' % (label, count) for label, count, dummy in parts)), segments, legend)


def utc_timestamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
