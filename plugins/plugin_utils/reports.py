# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writing for every report family: one durable atomic writer, one dispatcher, and the formats' pieces.

A report family (``audit_reports.py``, ``rolling_reports.py``) is a registry ``{format: (file name, render)}``
where ``render(report)`` returns the file's text; :func:`write_reports` writes the chosen formats of one report.
Adding a format is one registry entry.

The pieces: CSV rows that spreadsheets cannot turn into formulas, JUnit XML that stays valid whatever the
text holds, the Prometheus text exposition format, and HTML pieces with inline CSS.

Every file is replaced atomically and durably (``module_utils/durable.write_atomic``), as node_exporter's textfile
collector requires and as readers of the reports expect.
"""

import csv
import datetime
import html
import io
import json
import math
import os
import re
import xml.etree.ElementTree as ET

from ansible_collections.phonefleet.grandstream.plugins.module_utils.durable import write_atomic


def write_reports(registry, report, directory, formats, directories=None):
    """Write the chosen ``formats`` of ``report``; returns ``{format: path}``.

    ``registry``: ``{format: (file name, render)}``; ``directories``: ``{format: directory}`` for a format that
    goes elsewhere (the Prometheus textfile into node_exporter's directory).  Directories are created.
    """
    unknown = sorted(set(formats) - set(registry))
    if unknown:
        raise ValueError('unknown report format(s) %s; known: %s' % (', '.join(unknown), ', '.join(registry)))
    written = {}
    for kind, (file_name, render) in registry.items():
        if kind in formats:
            target = (directories or {}).get(kind) or directory
            written[kind] = write_atomic(os.path.join(target, file_name), render(report))
    return written


def json_text(data):
    return json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False) + '\n'


_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def csv_cell(value):
    """A CSV cell: None is empty, booleans are true/false, text that a spreadsheet would run as a formula gets a quote."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(rows, columns):
    """CSV with a header row.  ``columns``: (header, key) pairs; key is a dict key or a function of the row."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator='\r\n')
    writer.writerow([header for header, dummy in columns])
    for row in rows:
        writer.writerow([csv_cell(key(row) if callable(key) else row.get(key)) for dummy, key in columns])
    return stream.getvalue()


# XML 1.0 forbids most control characters even when escaped; ElementTree would write them as they are.
_XML_INVALID = re.compile('[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def xml_safe(value):
    return _XML_INVALID.sub('\ufffd', '' if value is None else str(value))


def junit_xml(suite_name, cases, timestamp=None, properties=None):
    """JUnit XML text: one ``<testsuite>`` inside ``<testsuites>``.

    ``cases``: dicts with ``name``, ``classname``, ``time`` (seconds) and optionally ``failure``,
    ``error`` (each ``{'type', 'message', 'text'}``), ``skipped`` (a message) and ``output`` (system-out).
    """
    tests = len(cases)
    failures = sum(1 for case in cases if case.get('failure'))
    errors = sum(1 for case in cases if case.get('error'))
    skipped = sum(1 for case in cases if case.get('skipped'))
    total_time = '%.3f' % sum(float(case.get('time') or 0) for case in cases)
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
            'time': '%.3f' % float(case.get('time') or 0),
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


_METRIC_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
METRIC_TYPES = ('gauge', 'counter', 'untyped')


def _label_value(value):
    return str('' if value is None else value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


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
        lines.append('# HELP %s %s' % (name, str(family.get('help', '')).replace('\\', '\\\\').replace('\n', '\\n')))
        lines.append('# TYPE %s %s' % (name, kind))
        for labels, value in family.get('samples', ()):
            for label in labels:
                if not _LABEL_NAME.match(label) or label.startswith('__'):
                    raise ValueError('%r is not a valid label name' % label)
            text = ','.join('%s="%s"' % (label, _label_value(labels[label])) for label in labels)
            lines.append('%s%s %s' % (name, '{%s}' % text if text else '', _sample_value(value)))
    return '\n'.join(lines) + '\n'


def esc(value):
    """HTML-escaped text (quotes included); None is empty."""
    return html.escape('' if value is None else str(value), quote=True)


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
