# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``fleet_config``: what ``phone_config`` does to one phone, for every phone of the play from one task.

A fleet check (``fleet_check.py``) of one part, :class:`ConfigPart`: each phone's visit is
``config_tasks.apply_settings`` (read, compare, write the difference, read it back) with the task's settings and the
phone's own ``grandstream_settings`` over them; its row says ``changed``, ``unchanged``, ``not_applied`` (the phone
answered success but kept a value) or ``failed`` (it could not be set: the error class and sentence).  Values never
reach a row, a report or the summary: only key names do, so that no secret can.  :class:`ConfigReports` shows the
rows in the JSON and CSV reports.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.config_tasks import apply_settings
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import pvalue_key
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED, UNCHANGED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import (
    CheckPart, FleetCheck, ReportFamily, ReportPart, labeled_names, list_of, one_of, short_why,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, plural

CHANGED = 'changed'
NOT_APPLIED = 'not_applied'   # the phone answered success and kept the old value of a key
CONFIG_STATUSES = (CHANGED, UNCHANGED, NOT_APPLIED, FAILED)

# The ``reason`` of a phone (a code word; ``error`` holds the sentence).
INVALID_SETTINGS = 'invalid_settings'   # a key or value that cannot be sent to this phone: nothing was written

# The host variable with a phone's own settings (merged over the task's).
HOST_SETTINGS_VARIABLE = 'grandstream_settings'

REPORT_SCHEMA = 'phonefleet.grandstream.fleet_config'
REPORT_VERSION = 1
SENTENCE_NAMES = 10

_NOT_APPLIED_HINT = ('Log in as admin (grandstream_username), keep URL values under 256 characters, and check whether '
                     'a cloud service (GDMS) owns provisioning on the phone.')
_INVALID_HINT = 'Fix the key or value (settings, or the phone\'s grandstream_settings); nothing was written to the phone.'


def _is_key_list(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def merged_settings(task_settings, host_settings):
    """The settings of one phone: the task's, with the phone's ``grandstream_settings`` over them (a key the host
    variable names replaces the task's, P-numbers compared by number: ``30`` replaces ``P30``).  ValueError when the
    host variable is not a mapping."""
    merged = dict(task_settings or {})
    if host_settings is None:
        return merged
    if not isinstance(host_settings, dict):
        raise ValueError('%s must be a mapping of setting keys to values, not %s'
                         % (HOST_SETTINGS_VARIABLE, type(host_settings).__name__))
    by_number = dict((pvalue_key(key), key) for key in merged if pvalue_key(key) is not None)
    for key, value in host_settings.items():
        key = str(key)
        number = pvalue_key(key)
        if number is not None and number in by_number:
            merged.pop(by_number[number], None)
        merged[key] = value
    return merged


class ConfigPart(CheckPart):
    """Set the settings of every phone; ``status`` per phone and its counts.

    ``settings``: the task's settings; ``update_secrets``: ``always`` or ``never``; ``check_mode``: predict, write
    nothing; ``diff``: keep each changed phone's before/after text (secrets left out) in :attr:`diffs`, in row order.
    """

    name = 'config'
    fields = {
        'status': one_of(CONFIG_STATUSES),
        'changed_keys': list_of(lambda key: isinstance(key, str), 'a list of setting keys'),
        'unverified': list_of(lambda key: isinstance(key, str), 'a list of setting keys'),
        'not_applied': list_of(lambda key: isinstance(key, str), 'a list of setting keys'),
    }
    settings = {'keys': list_of(lambda key: isinstance(key, str), 'a list of setting keys'),
                'update_secrets': one_of(('always', 'never'))}

    def __init__(self, settings, update_secrets='always', check_mode=False, diff=False):
        self.task_settings = dict(settings or {})
        self.update_secrets = update_secrets
        self.check_mode = bool(check_mode)
        self.diff = bool(diff)
        self.diffs = []

    def wanted(self, target):
        variables = target.variables if target is not None else {}
        return merged_settings(self.task_settings, variables.get(HOST_SETTINGS_VARIABLE))

    def read(self, client, target, data):
        try:
            result = apply_settings(client, self.wanted(target), self.check_mode, self.update_secrets)
        except ValueError as exc:
            data.update(status=FAILED, invalid='%s.' % str(exc).rstrip('.'))
            return
        data.update(changed_keys=list(result['changed_keys']), unverified=list(result['unverified']),
                    not_applied=list(result.get('not_applied') or []))
        if result.get('failed'):
            label = client.connection.label + ': '
            message = result.get('msg') or ''
            data.update(status=NOT_APPLIED, error=message[len(label):] if message.startswith(label) else message)
        else:
            data['status'] = CHANGED if result['changed'] else UNCHANGED
        if self.diff and result['diff']['before'] != result['diff']['after']:
            data['diff'] = dict(result['diff'])

    def record(self, row, result, target):
        data = result.get('data') or {}
        status = data.get('status') if result.get('ok') else None
        if status is None:
            status = FAILED
            row['error_class'] = result.get('error_class') or ERROR
        elif data.get('invalid'):
            row.update(error=data['invalid'], hint=_INVALID_HINT, reason=INVALID_SETTINGS, error_class=ERROR)
        elif status == NOT_APPLIED:
            row.update(error=data.get('error'), hint=_NOT_APPLIED_HINT, reason=NOT_APPLIED)
        row.update(status=status, changed_keys=data.get('changed_keys', []), unverified=data.get('unverified', []),
                   not_applied=data.get('not_applied', []))
        if data.get('diff'):
            header = '%s (%s)' % (row['name'], row.get('host')) if row.get('host') else row['name']
            self.diffs.append(dict(data['diff'], before_header=header, after_header=header))

    def count(self, rows, summary):
        for status in CONFIG_STATUSES:
            summary[status] = 0
        for row in rows:
            summary[row['status']] += 1

    def settings_of(self, options):
        # The key names only: a value may be a secret.
        return {'keys': sorted(str(key) for key in self.task_settings), 'update_secrets': self.update_secrets}

    def problems(self, report):
        rows = report['phones']
        return {'changed_phones': [row['name'] for row in rows if row['status'] == CHANGED],
                'not_applied_phones': [row['name'] for row in rows if row['status'] == NOT_APPLIED],
                'failed_phones': [row['name'] for row in rows if row['status'] == FAILED]}

    def sentence(self, report):
        summary, rows = report['summary'], report['phones']
        check = bool((report.get('audit') or {}).get('check_mode'))
        counts = ['%d %s' % (summary[CHANGED], 'would change' if check else 'changed'), '%d unchanged' % summary[UNCHANGED]]
        if summary[NOT_APPLIED]:
            counts.append('%d not applied' % summary[NOT_APPLIED])
        if summary[FAILED]:
            counts.append('%d failed' % summary[FAILED])
        text = 'Settings of %s: %s%s.' % (plural(summary['total'], 'phone'), ', '.join(counts),
                                          ' (check mode: nothing was written)' if check else '')
        not_applied = [row for row in rows if row['status'] == NOT_APPLIED]
        if not_applied:
            text += ' Not applied (the phone answered success but kept the old value): %s.' % name_list(
                ['%s (%s)' % (row['name'], ', '.join(row['not_applied'])) for row in not_applied[:SENTENCE_NAMES]]
                + [row['name'] for row in not_applied[SENTENCE_NAMES:]], SENTENCE_NAMES)
        failed = [row for row in rows if row['status'] == FAILED]
        if failed:
            text += ' Failed: %s.' % name_list(labeled_names(
                [dict(row, status=row.get('reason') or FAILED) for row in failed], SENTENCE_NAMES, _why), SENTENCE_NAMES)
        return text


def _why(row):
    if row.get('reason') == INVALID_SETTINGS and row.get('error'):
        error = row['error'].rstrip('.')
        return error if len(error) <= 100 else error[:97].rstrip() + '...'
    return short_why(row)


def _keys(field):
    return lambda row: ' '.join(row.get(field) or [])


class ConfigReports(ReportPart):
    """The settings part in the JSON (the rows as they are) and CSV reports."""

    csv_columns = (
        ('name', 'name'), ('host', 'host'), ('port', 'port'), ('site', 'site'), ('model', 'model'), ('status', 'status'),
        ('changed_keys', _keys('changed_keys')), ('unverified', _keys('unverified')), ('not_applied', _keys('not_applied')),
        ('error_class', 'error_class'), ('reason', 'reason'), ('error', 'error'), ('hint', 'hint'),
    )


CONFIG_FAMILY = ReportFamily('fleet_config', 'Grandstream settings', [ConfigReports()], 'grandstream_config')
REPORT_FORMATS = ('json', 'csv')
CONFIG_REPORTS = dict((kind, entry) for kind, entry in CONFIG_FAMILY.registry.items() if kind in REPORT_FORMATS)


def config_check(settings, update_secrets='always', check_mode=False, diff=False):
    """The fleet_config task as a FleetCheck of one ConfigPart."""
    return FleetCheck('fleet_config', REPORT_SCHEMA, REPORT_VERSION,
                      [ConfigPart(settings, update_secrets, check_mode, diff)])
