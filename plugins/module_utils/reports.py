# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writers: JSON, CSV, JUnit XML, HTML and Prometheus textfiles.

The first half is generic (any role can build its reports from it): atomic file writes,
CSV rows that spreadsheets cannot turn into formulas, JUnit XML that stays valid whatever
the text holds, the Prometheus text exposition format, and HTML pieces with inline CSS.
The second half renders the registration audit (``write_registration_reports``).

Every writer replaces its file atomically (temporary file in the same directory, then
rename), as node_exporter's textfile collector requires and as readers of the other
reports expect.  Python 3.8 syntax.
"""

import csv
import datetime
import html
import io
import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET

# -- generic writers ----------------------------------------------------------------------


def write_atomic(path, data, mode=0o644):
    """Write text (UTF-8) or bytes to path through a temporary file and a rename; returns path."""
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    # A leading dot and a .tmp suffix: node_exporter only reads *.prom, and ls hides the file.
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


def json_text(data):
    return json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False) + '\n'


def write_json(path, data):
    return write_atomic(path, json_text(data))


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


def write_csv(path, rows, columns):
    return write_atomic(path, csv_text(rows, columns))


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


def write_prometheus(path, families):
    """A textfile for node_exporter's textfile collector (name it ``*.prom``), replaced atomically."""
    return write_atomic(path, prometheus_text(families))


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


# -- registration audit -------------------------------------------------------------------

REGISTRATION_FORMATS = ('json', 'csv', 'junit', 'html', 'prometheus')
REGISTRATION_FILES = {
    'json': 'registration_audit.json',
    'csv': 'registration_audit.csv',
    'junit': 'registration_audit.junit.xml',
    'html': 'registration_audit.html',
    'prometheus': 'registration_audit.prom',
}
STATUS_ORDER = ('registered', 'unregistered', 'unreachable', 'auth_failed', 'locked', 'forbidden', 'error')
STATUS_COLORS = {
    'registered': '#1a7f37', 'unregistered': '#d4a72c', 'unreachable': '#cf222e', 'auth_failed': '#8250df',
    'locked': '#6e40c9', 'forbidden': '#bc4c00', 'error': '#57606a',
}
STATUS_MEANING = {
    'registered': 'every required SIP account is registered',
    'unregistered': 'the phone answers, but a required SIP account is not registered (or none is configured)',
    'unreachable': 'no answer on the network: refused, timed out or reset',
    'auth_failed': 'the phone rejected the passcode (not retried: five wrong passcodes lock it)',
    'locked': 'the phone is locked after repeated wrong passcodes',
    'forbidden': 'CTI is disabled on the phone or the controller IP is not allowed',
    'error': 'the phone answered something that is not CTI, or the function is not supported',
}
MAX_HTML_PROBLEMS = 5000
_NO_GROUP = '(none)'


def _accounts_text(accounts):
    parts = []
    for account in accounts or []:
        if not account.get('configured'):
            continue
        parts.append('%s:%s@%s:%s' % (account.get('id'), account.get('sip_id'), account.get('sip_server') or '-',
                                      'registered' if account.get('registered') else 'unregistered'))
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
    ('accounts_configured', lambda row: len([account for account in row.get('accounts') or [] if account.get('configured')])),
    ('accounts_registered', lambda row: len([account for account in row.get('accounts') or []
                                             if account.get('configured') and account.get('registered')])),
    ('accounts', lambda row: _accounts_text(row.get('accounts'))),
    ('error', 'error'),
    ('hint', 'hint'),
)


def registration_junit(report):
    cases = []
    for phone in report['phones']:
        case = {'name': phone['name'], 'classname': 'registration_audit.%s' % (phone.get('site') or 'no_site'),
                'time': phone.get('seconds') or 0}
        if not phone['compliant']:
            address = phone.get('host') or ''
            if phone.get('port') not in (None, 80, 443):
                address = '%s:%s' % (address, phone['port'])
            text = '%s (%s): %s\n%s%s' % (phone['name'], address, phone['status'], phone.get('error') or '',
                                          '\nWhat to check: %s' % phone['hint'] if phone.get('hint') else '')
            case['failure'] = {'type': phone['status'], 'message': '%s: %s' % (phone['status'], phone.get('error') or ''), 'text': text}
        cases.append(case)
    audit = report.get('audit', {})
    properties = [('compliance_percent', report['summary']['compliance_percent'])]
    if audit.get('required_accounts'):
        properties.append(('required_accounts', ','.join(str(number) for number in audit['required_accounts'])))
    return junit_xml('registration_audit', cases, timestamp=audit.get('finished_at'), properties=properties)


def registration_prometheus(report):
    phones = report['phones']
    audit = report.get('audit', {})
    summary = report['summary']

    def labels(phone):
        return {'name': phone['name'], 'site': phone.get('site') or '', 'model': phone.get('model') or ''}

    return [
        {'name': 'grandstream_phone_registered',
         'help': '1 when every required SIP account of the phone is registered, else 0 (also when the phone could not be read).',
         'samples': [(labels(phone), 1 if phone['status'] == 'registered' else 0) for phone in phones]},
        {'name': 'grandstream_phone_reachable',
         'help': '1 when the phone answered on the network during the registration audit, else 0.',
         'samples': [(labels(phone), 1 if phone.get('reachable') else 0) for phone in phones]},
        {'name': 'grandstream_phone_audit_status',
         'help': 'Registration audit status of the phone (the status label), always 1.',
         'samples': [(dict(labels(phone), status=phone['status']), 1) for phone in phones]},
        {'name': 'grandstream_audit_phones',
         'help': 'Phones per registration audit status.',
         'samples': [({'status': status}, summary.get(status, 0)) for status in STATUS_ORDER]},
        {'name': 'grandstream_audit_compliance_ratio',
         'help': 'Share of audited phones whose required accounts are all registered (0 to 1).',
         'samples': [({}, round(summary['compliance_percent'] / 100.0, 6))]},
        {'name': 'grandstream_audit_duration_seconds',
         'help': 'How long the registration audit took.',
         'samples': [({}, float(audit.get('duration_seconds') or 0.0))]},
        {'name': 'grandstream_audit_timestamp_seconds',
         'help': 'Unix time at which the registration audit finished.',
         'samples': [({}, float(audit.get('finished_epoch') or 0.0))]},
    ]


def _group_rows(phones, key):
    groups = {}
    for phone in phones:
        group = phone.get(key) or _NO_GROUP
        counts = groups.setdefault(group, dict((status, 0) for status in STATUS_ORDER))
        counts[phone['status']] += 1
    rows = []
    for group, counts in groups.items():
        total = sum(counts.values())
        percent = math.floor(10000.0 * counts['registered'] / total) / 100.0
        rows.append((percent, group, total, counts))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _status_badge(status):
    text_color = '#1f2328' if status == 'unregistered' else '#fff'  # dark text on the light amber
    return '<span class="badge" style="background:%s;color:%s">%s</span>' % (STATUS_COLORS.get(status, '#57606a'), text_color, esc(status))


def _compliance_color(percent):
    if percent >= 100:
        return STATUS_COLORS['registered']
    return STATUS_COLORS['unregistered'] if percent >= 90 else STATUS_COLORS['unreachable']


def _group_table(phones, key, title):
    rows = []
    for percent, group, total, counts in _group_rows(phones, key):
        problems = ', '.join('%d %s' % (counts[status], status) for status in STATUS_ORDER[1:] if counts[status])
        rows.append((esc(group), str(total), str(counts['registered']), '%.2f%%' % percent, html_bar(percent, _compliance_color(percent)),
                     esc(problems) or '<span class="ok">none</span>'))
    return html_table((title, 'phones', 'registered', 'compliance', '', 'problems'), rows, numeric=(1, 2, 3))


def registration_html(report):
    summary = report['summary']
    audit = report.get('audit', {})
    phones = report['phones']
    total = summary['total']
    percent = summary['compliance_percent']
    verdict = 'ok' if summary['registered'] == total else 'bad'
    parts = []
    cards = ['<div class="card big"><b class="%s">%.2f%%</b><span>compliant</span></div>' % (verdict, percent),
             '<div class="card"><b>%d</b><span>phones audited</span></div>' % total]
    cards += ['<div class="card"><b style="color:%s">%d</b><span>%s</span></div>' % (STATUS_COLORS[status], summary[status], esc(status))
              for status in STATUS_ORDER]
    parts.append('<div class="cards">%s</div>\n' % ''.join(cards))
    parts.append(html_stacked_bar([(status, summary[status], STATUS_COLORS[status]) for status in STATUS_ORDER]))

    parts.append('<h2>Compliance per site</h2>\n')
    parts.append(_group_table(phones, 'site', 'site'))
    if any(phone.get('model') for phone in phones):
        parts.append('<h2>Compliance per model</h2>\n')
        parts.append(_group_table(phones, 'model', 'model'))

    problems = [phone for phone in phones if not phone['compliant']]
    problems.sort(key=lambda phone: (STATUS_ORDER.index(phone['status']) if phone['status'] in STATUS_ORDER else 99, phone['name']))
    parts.append('<h2>Phones that need attention (%d)</h2>\n' % len(problems))
    if problems:
        rows = []
        for phone in problems[:MAX_HTML_PROBLEMS]:
            address = phone.get('host') or ''
            if phone.get('port') not in (None, 80, 443):
                address = '%s:%s' % (address, phone['port'])
            rows.append((esc(phone['name']), esc(address), esc(phone.get('site')), esc(phone.get('model')), _status_badge(phone['status']),
                         esc(phone.get('error')), '<span class="hint">%s</span>' % esc(phone.get('hint'))))
        parts.append(html_table(('phone', 'address', 'site', 'model', 'status', 'reason', 'what to check'), rows))
        if len(problems) > MAX_HTML_PROBLEMS:
            parts.append('<p>%d more in registration_audit.csv.</p>\n' % (len(problems) - MAX_HTML_PROBLEMS))
    else:
        parts.append('<p class="ok">Every audited phone has its required SIP accounts registered.</p>\n')

    parts.append('<h2>What the statuses mean</h2>\n')
    parts.append(html_table(('status', 'meaning'), [(_status_badge(status), esc(STATUS_MEANING[status])) for status in STATUS_ORDER]))
    required = audit.get('required_accounts')
    parts.append('<footer>Required accounts: %s. Generated by phonefleet.grandstream.registration_audit.</footer>\n'
                 % (esc(', '.join(str(number) for number in required)) if required else 'every configured account'))
    subtitle = 'Finished %s, %d phones in %.1f s.' % (audit.get('finished_at') or '?', total, float(audit.get('duration_seconds') or 0))
    return html_page('Grandstream registration audit', ''.join(parts), subtitle=subtitle)


def write_registration_reports(report, directory, formats=REGISTRATION_FORMATS, prometheus_dir=None):
    """Write the chosen reports of a registration audit; returns ``{format: path}``.

    ``report``: ``{'summary': ..., 'phones': [...], 'audit': {...}}``.  Directories are created.
    """
    unknown = sorted(set(formats) - set(REGISTRATION_FORMATS))
    if unknown:
        raise ValueError('unknown report format(s) %s; known: %s' % (', '.join(unknown), ', '.join(REGISTRATION_FORMATS)))
    written = {}
    for kind in REGISTRATION_FORMATS:
        if kind not in formats:
            continue
        target_dir = prometheus_dir if kind == 'prometheus' and prometheus_dir else directory
        if not os.path.isdir(target_dir):
            os.makedirs(target_dir, exist_ok=True)
        path = os.path.join(target_dir, REGISTRATION_FILES[kind])
        if kind == 'json':
            write_json(path, report)
        elif kind == 'csv':
            write_csv(path, report['phones'], REGISTRATION_CSV_COLUMNS)
        elif kind == 'junit':
            write_atomic(path, registration_junit(report))
        elif kind == 'html':
            write_atomic(path, registration_html(report))
        else:
            write_prometheus(path, registration_prometheus(report))
        written[kind] = path
    return written
