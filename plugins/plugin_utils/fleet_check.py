# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One skeleton for every fleet check: the registration audit today, security posture and configuration drift next.

A fleet check visits every phone of the play once, from one task (``fanout.fan_out``), makes one row per phone,
counts the rows into a summary, tells people what it found in one paragraph, and publishes a report set (JSON, CSV,
JUnit XML, HTML, Prometheus: ``reports.py``) and a task result that carries the inputs of ``set_stats``.  All of
that is written here, once.  A check is made of parts; each part is two small objects:

- a :class:`CheckPart` (what it finds): ``read`` in the phone's visit, ``record`` its fields into the row, ``count``
  them into the summary, its ``sentence`` for the message, its ``problems`` (named lists of phones, for the task
  result and ``set_stats``), the row ``fields`` a merge of sliced reports accepts and the ``settings`` the slices of
  one check must share;
- a :class:`ReportPart` (how it shows): its CSV columns, JUnit failure, HTML sections and Prometheus gauges.

A new finding in the audit (posture) is one part more in its list; a new check (configuration backup) is a
:class:`FleetCheck` with its own parts, schema and file names.  Neither needs new glue in an action plugin or a role.
"""

import math
import os
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import PASSCODE_ENV, VARIABLE_OF
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.controller import ControllerGone
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import INTERRUPTED, NOT_ATTEMPTED, fan_out
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import (
    clean_text, csv_text, esc, html_page, json_text, junit_xml, prometheus_text, utc_timestamp, write_report_set,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import plural

# The ``reason`` of a phone the check could not visit (a code word; ``error`` holds the sentence).
NO_PASSCODE = 'no_passcode'      # neither grandstream_passcode nor GRANDSTREAM_PASSCODE: nothing was sent to it
BAD_VARIABLES = 'bad_variables'  # its connection variables are unusable: nothing was sent to it

NO_PASSCODE_ERROR = ('no passcode is set for the phone (grandstream_passcode or %s), so nothing was sent to it.'
                     % PASSCODE_ENV)
NO_PASSCODE_HINT = ('Set grandstream_passcode (in vaulted host or group variables) or %s in the environment of '
                    'ansible-playbook.' % PASSCODE_ENV)


# -- row fields: what a merge of sliced reports accepts -------------------------------------------------------------

class Field(object):
    """What a row field may hold (``accepts(value)``, said in words by ``what``), and its value in a report written
    before the field existed (``default``); an ``optional`` field is only in the rows it concerns (no default)."""

    __slots__ = ('accepts', 'what', 'default', 'optional')

    def __init__(self, accepts, what, default=None, optional=False):
        self.accepts = accepts
        self.what = what
        self.default = default
        self.optional = optional

    def with_default(self, default):
        return Field(self.accepts, self.what, default, self.optional)

    def only_when_set(self):
        return Field(self.accepts, self.what, None, True)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


TEXT = Field(lambda value: value is None or isinstance(value, str), 'a string or null')
FLAG = Field(lambda value: value is None or isinstance(value, bool), 'true, false or null')
COUNT = Field(lambda value: value is None or _is_count(value), 'a whole number or null')
NUMBER = Field(lambda value: value is None or _is_number(value), 'a number or null')
SCALAR = Field(lambda value: value is None or isinstance(value, (str, int, float)), 'a string, a number or null')
ANY = Field(lambda value: True, 'any value')


def one_of(values, default=None):
    values = tuple(values)
    return Field(lambda value: value in values, 'one of %s' % ', '.join(str(value) for value in values), default)


def list_of(item, what, default=()):
    return Field(lambda value: isinstance(value, list) and all(item(element) for element in value), what, list(default))


def dict_of(item, what):
    def accepts(value):
        return isinstance(value, dict) and all(isinstance(key, str) and item(element) for key, element in value.items())
    return Field(accepts, what, {})


# The fields of every row, whatever the check.
ROW_FIELDS = {
    'name': Field(lambda value: isinstance(value, str) and value != '', 'a non-empty string'),
    'host': TEXT, 'port': COUNT, 'site': TEXT, 'model': TEXT,
    'reachable': FLAG, 'error': TEXT, 'hint': TEXT, 'reason': TEXT, 'seconds': NUMBER,
    'error_class': TEXT.only_when_set(), 'http_status': COUNT.only_when_set(),
}


def row_problem(row, fields):
    """Why ``row`` is not a row of these ``fields`` (a few words), or None."""
    if not isinstance(row, dict):
        return 'it is not an object'
    for field, spec in fields.items():
        if field in row and not spec.accepts(row[field]):
            return '"%s" must be %s, not %s' % (field, spec.what, _short_repr(row[field]))
    return None


def _short_repr(value):
    text = repr(value)
    return clean_text(text if len(text) <= 60 else text[:57] + '...', one_line=True)


# -- the two halves of a part -------------------------------------------------------------------------------------

class CheckPart(object):
    """What one part of a check finds.  Every hook is optional; the defaults do nothing."""

    name = None
    # {field: Field} of the row fields the part adds (a merge of sliced reports checks them, and fills in the default
    # for a report written before the field existed).
    fields = {}
    # {key: Field} of the settings in the report's ``audit`` that the slices of one run must share (a merge refuses
    # slices whose settings differ, and settings of the wrong type).
    settings = {}

    def read(self, client, target, data):
        """In the phone's visit: read what the part needs into ``data`` (a dict).  A CTIError ends the visit and
        fails the phone with its class; catch it to record an unknown instead."""

    def record(self, row, result, target):
        """Add the part's fields to ``row``, from the fan-out ``result`` (``result['data']``: what ``read`` put there;
        ``result['ok']`` False when the visit failed) and the FleetTarget (None when the row is merged)."""

    def count(self, rows, summary):
        """Add the part's counts to ``summary``."""

    def settings_of(self, options):
        """The part's settings for the report, from the check's options."""
        return {}

    def problems(self, report):
        """``{name: [phone names]}``: lists the task result returns and ``set_stats`` publishes (names in row order)."""
        return {}

    def sentence(self, report):
        """The part's sentence of the message for people ('' for nothing to say)."""
        return ''


class ReportPart(object):
    """How one part shows in each report format.  Every hook is optional."""

    # (header, key or function of the row): the columns of the report's first release (0.2.0)
    csv_columns = ()
    # Columns added later (a part added later has only these) go after every part's first columns, so that the
    # columns people and scripts know never move.
    csv_columns_added = ()

    def junit_failure(self, row, report):
        """``{'type', 'message', 'text'}`` when this part fails the phone's test case, else None."""
        return None

    def junit_output(self, row, report):
        """A line for the test case's system-out, or None."""
        return None

    def junit_properties(self, report):
        return []

    def html_overview(self, report):
        """HTML (already escaped) for the top of the page."""
        return ''

    def html_details(self, report):
        """HTML (already escaped) for the bottom of the page: the phones to look at."""
        return ''

    def html_footer(self, report):
        """A sentence (text) for the page's footer, or ''."""
        return ''

    def prometheus(self, report):
        """Metric families (``reports.prometheus_text``)."""
        return []


# -- the check -----------------------------------------------------------------------------------------------------

class FleetCheck(object):
    """A fleet check: its ``name`` (the report files' stem, the JUnit suite, the ``set_stats`` key), the JSON
    report's ``schema`` marker (name, version) and the versions it still reads, its parts, and the summary figure
    that comes last in the summary (``headline``)."""

    def __init__(self, name, schema_name, schema_version, parts, accepted_versions=None, headline=None):
        self.name = name
        self.schema_name = schema_name
        self.schema_version = schema_version
        self.accepted_versions = tuple(accepted_versions or (schema_version,))
        self.parts = list(parts)
        self.headline = headline

    @property
    def fields(self):
        fields = dict(ROW_FIELDS)
        for part in self.parts:
            fields.update(part.fields)
        return fields

    @property
    def settings(self):
        settings = {}
        for part in self.parts:
            settings.update(part.settings)
        return settings

    # the visit
    def work(self, should_stop=None):
        """The fan-out work function: every part reads in turn, in one visit.  ``should_stop()`` is looked at between
        two parts, so that a visit ends early once ansible-playbook is gone."""
        parts = list(self.parts)

        def work(client, target):
            data = {}
            for part in parts:
                if should_stop is not None and should_stop():
                    raise ControllerGone('stopped')
                part.read(client, target, data)
            return data

        return work

    def row(self, result, target=None, missing_passcode=()):
        """The report row of one phone: the fields of its visit, then each part's."""
        row = visit_row(result, target, missing_passcode)
        for part in self.parts:
            part.record(row, result, target)
        return row

    def summary(self, rows):
        summary = {'total': len(rows)}
        for part in self.parts:
            part.count(rows, summary)
        if self.headline in summary:
            summary[self.headline] = summary.pop(self.headline)  # the figure people read first is the last key
        return summary

    def settings_of(self, options):
        settings = {}
        for part in self.parts:
            settings.update(part.settings_of(options))
        return settings

    def report(self, rows, run):
        """The JSON report: ``{schema, summary, phones, audit}``; ``run``: when and how the check ran, its settings."""
        return {'schema': {'name': self.schema_name, 'version': self.schema_version}, 'summary': self.summary(rows),
                'phones': rows, 'audit': run}

    def problems(self, report):
        problems = {}
        for part in self.parts:
            problems.update(part.problems(report))
        return problems

    def message(self, report):
        return ' '.join(sentence for sentence in (part.sentence(report) for part in self.parts) if sentence)

    def run(self, targets, options, concurrency, deadline=None, should_stop=None, missing_passcode=(),
            check_mode=False, clock=time.monotonic, wall=time.time, **fan_out_options):
        """Visit every target and return the report.  Raises ControllerGone when ``should_stop()`` became true."""
        started_epoch, started = wall(), clock()
        results = fan_out(targets, self.work(should_stop), concurrency=concurrency, deadline=deadline,
                          should_stop=should_stop, **fan_out_options)
        if should_stop is not None and should_stop():
            raise ControllerGone('ansible-playbook stopped while the %s was running; it stopped too, and wrote no '
                                 'report.' % self.name.replace('_', ' '))
        rows = [self.row(result, target, missing_passcode) for result, target in zip(results, targets)]
        duration = round(clock() - started, 3)
        finished_epoch = started_epoch + duration
        run = {'started_at': utc_timestamp(started_epoch), 'finished_at': utc_timestamp(finished_epoch),
               'finished_epoch': round(finished_epoch, 3), 'duration_seconds': duration,
               'concurrency': concurrency, 'deadline_seconds': deadline or None, 'check_mode': bool(check_mode)}
        run.update(self.settings_of(options))
        return self.report(rows, run)


def visit_row(result, target=None, missing_passcode=()):
    """The fields every row has, from a fan-out result: who the phone is, whether it answered, and when the visit
    failed, why (``error`` a sentence, ``hint`` what to check, ``reason`` a code word)."""
    variables = target.variables if target is not None else {}
    row = {'name': result['name'], 'host': result['host'], 'port': result['port'],
           'site': _text_or_none(variables.get('site')), 'model': _text_or_none(variables.get('model')),
           'reachable': result.get('reachable'), 'error': None, 'hint': None, 'reason': None,
           'seconds': result.get('seconds')}
    if result.get('ok'):
        return row
    row.update(error=result.get('error'), hint=result.get('hint'), reason=result.get('error_class'))
    if target is not None and target.connection is None:
        # Nothing was sent: the row says why in words of the phone's variables, not of the network.
        if result['name'] in missing_passcode:
            row.update(error=NO_PASSCODE_ERROR, hint=NO_PASSCODE_HINT, reason=NO_PASSCODE)
        else:
            row['reason'] = BAD_VARIABLES
    if result.get('error_class') in (NOT_ATTEMPTED, INTERRUPTED):
        row['error_class'] = result['error_class']
    if result.get('http_status') is not None:
        row['http_status'] = result['http_status']
    return row


def _text_or_none(value):
    return None if value is None or value == '' else str(value)


def missing_passcodes(host_names, raw_variables, environ=None):
    """The names of the hosts that have no passcode: no ``grandstream_passcode`` (as written: a template counts) and
    no GRANDSTREAM_PASSCODE in the environment.  ``raw_variables(name)``: the host's variables as written."""
    environ = os.environ if environ is None else environ
    if environ.get(PASSCODE_ENV):
        return frozenset()
    missing = set()
    for name in host_names:
        try:
            value = raw_variables(name).get(VARIABLE_OF['passcode'])
        except Exception:  # pylint: disable=broad-exception-caught
            continue  # not readable: fleet_targets says what is wrong with it
        if value is None or value == '':
            missing.add(name)
    return frozenset(missing)


# -- the report set --------------------------------------------------------------------------------------------------

class ReportFamily(object):
    """The report files of a check, composed from its ReportParts: ``registry`` is ``{format: (file name, render)}``
    for reports.write_report_set.  ``name``: the files' stem and the JUnit suite; ``title``: the HTML page's;
    ``metric_prefix``: of the check's own gauges (``<prefix>_duration_seconds``, ``<prefix>_timestamp_seconds``)."""

    def __init__(self, name, title, parts, metric_prefix):
        self.name = name
        self.title = title
        self.parts = list(parts)
        self.metric_prefix = metric_prefix

    @property
    def registry(self):
        return {
            'json': ('%s.json' % self.name, json_text),
            'csv': ('%s.csv' % self.name, lambda report: csv_text(report['phones'], self.csv_columns())),
            'junit': ('%s.junit.xml' % self.name, self.junit),
            'html': ('%s.html' % self.name, self.html),
            'prometheus': ('%s.prom' % self.name, lambda report: prometheus_text(self.prometheus_families(report))),
        }

    def csv_columns(self):
        return [column for part in self.parts for column in part.csv_columns] + \
               [column for part in self.parts for column in part.csv_columns_added]

    def junit(self, report):
        """One test case per phone, failed by the first part that fails it; the parts' lines as its system-out."""
        cases = []
        for row in report['phones']:
            case = {'name': row['name'], 'classname': '%s.%s' % (self.name, row.get('site') or 'no_site'),
                    'time': row.get('seconds') or 0}
            for part in self.parts:
                failure = part.junit_failure(row, report)
                if failure:
                    case['failure'] = failure
                    break
            output = [line for line in (part.junit_output(row, report) for part in self.parts) if line]
            if output:
                case['output'] = '\n'.join(output)
            cases.append(case)
        properties = [item for part in self.parts for item in part.junit_properties(report)]
        return junit_xml(self.name, cases, timestamp=(report.get('audit') or {}).get('finished_at'), properties=properties)

    def html(self, report):
        """The parts' overviews, then their details, then a footer: one page, no script, nothing loaded."""
        run = report.get('audit') or {}
        body = ''.join(part.html_overview(report) for part in self.parts)
        body += ''.join(part.html_details(report) for part in self.parts)
        footer = [text for text in (part.html_footer(report) for part in self.parts) if text]
        footer.append('Generated by phonefleet.grandstream.%s%s.' % (
            self.name, ' (merged from %s)' % plural(run['slices'], 'slice') if _is_count(run.get('slices')) else ''))
        subtitle = 'Finished %s, %s in %.1f s.' % (run.get('finished_at') or '?', plural(len(report['phones']), 'phone'),
                                                   _float(run.get('duration_seconds')))
        return html_page(self.title, body + '<footer>%s</footer>\n' % esc(' '.join(footer)), subtitle=subtitle)

    def prometheus_families(self, report):
        """The parts' metric families, then how long the check took and when it finished."""
        run = report.get('audit') or {}
        words = self.name.replace('_', ' ')
        families = [family for part in self.parts for family in part.prometheus(report)]
        families += [
            {'name': '%s_duration_seconds' % self.metric_prefix, 'help': 'How long the %s took.' % words,
             'samples': [({}, _float(run.get('duration_seconds')))]},
            {'name': '%s_timestamp_seconds' % self.metric_prefix, 'help': 'Unix time at which the %s finished.' % words,
             'samples': [({}, _float(run.get('finished_epoch')))]},
        ]
        return families


def _float(value):
    return float(value) if _is_number(value) else 0.0


# -- the publish tail: reports, task result, set_stats ---------------------------------------------------------------

def publish(check, registry, report, report_dir=None, formats=(), directories=None, stats_max_names=100, note=''):
    """Write the report set (when ``report_dir``) and return the task result of a fleet check.

    The result: ``changed`` (false: a check reads), ``summary``, ``report_files``, ``msg`` (the check's message,
    ``note``, then where the report is), every problem list of the parts (``non_compliant``, ``firmware_outdated``...)
    and ``stats``, what the role hands to ``set_stats``: the summary, each problem list cut at ``stats_max_names``
    names with its full count beside it (``<list>_count``), and the report files.
    Raises reports.ReportSetError (an OSError) when the report set could not be written.
    """
    report_files = {}
    if report_dir:
        report_files = write_report_set(registry, report, os.path.abspath(report_dir), formats, directories)
    msg = ' '.join(text for text in (check.message(report), note) if text)
    if report_files:
        msg += ' Report: %s.' % report_files.get('html', sorted(report_files.values())[0])
    problems = check.problems(report)
    result = dict(changed=False, summary=report['summary'], report_files=report_files, msg=msg)
    result.update(problems)
    result['stats'] = set_stats_data(report['summary'], problems, report_files, stats_max_names)
    return result


def set_stats_data(summary, problems, report_files, max_names):
    """What ``set_stats`` publishes for AWX workflows: small whatever the fleet (at most ``max_names`` names a list)."""
    data = {'summary': summary}
    for key, names in problems.items():
        data[key] = list(names[:max(0, int(max_names))])
        data['%s_count' % key] = len(names)
    data['report_files'] = report_files
    return data


def labeled_names(rows, limit=10, why=None):
    """The names of ``rows`` for a message, the first ``limit`` with a few words on why
    (``gs0003 unreachable (connection refused)``): text.name_list shows those and counts the others.
    ``why(row)``: the few words (default :func:`short_why`)."""
    rows = list(rows)
    return [labeled_name(row, why) for row in rows[:limit]] + [row['name'] for row in rows[limit:]]


def labeled_name(row, why=None):
    why = (why or short_why)(row)
    status = row.get('status') or row.get('reason') or 'failed'
    return '%s %s (%s)' % (row['name'], status, why) if why else '%s %s' % (row['name'], status)


def short_why(row):
    """A few words on why a phone failed: the first parenthesis of its error ('connection refused', 'HTTP 403'), else
    the start of the sentence; '' when the row says nothing."""
    error = clean_text(row.get('error'), 300, one_line=True).strip()
    if not error:
        return ''
    start = error.find(' (')
    if start >= 0:
        inside = error[start + 2:]
        depth, end = 1, None
        for index, char in enumerate(inside):
            depth += {'(': 1, ')': -1}.get(char, 0)
            if depth == 0:
                end = index
                break
        if end is not None and 0 < end <= 40:
            return inside[:end]
    text = error.split(': ')[0].rstrip('.')
    return text if len(text) <= 60 else text[:57].rstrip() + '...'
