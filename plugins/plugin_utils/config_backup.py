# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration backup of a fleet: a fleet check (``fleet_check.py``) of one part, :class:`BackupPart`.

Each phone's visit reads its whole configuration (``module_utils/settings_backup.read_whole``: download_cfg, else the
alias catalogue, else the known keys; secrets left out), renders it as ``<inventory_hostname>.txt`` and compares it
with the file already in the directory:

- the same text: the file is not rewritten (``unchanged``; its date stays, as netcommon's backup does);
- another text: the drift against the previous file (``{"P30": {"before", "after"}}``), then the new file written
  atomically (``saved``; ``durable.write_atomic``: a crash leaves the old file or the new one);
- a phone that fails keeps its last good file as it was (``failed``).

Check mode reads every phone and says what would be saved, and writes nothing.  :class:`BackupReports` shows the rows
in ``config_backup.json``, ``.csv`` and ``.html``; secrets are never in a file, so never in a drift.
"""

import os
import re

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR
from ansible_collections.phonefleet.grandstream.plugins.module_utils.durable import write_atomic
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings_backup import (
    SOURCES, backup_file_name, drift, parse_backup, read_whole, render_backup,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED, UNCHANGED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import (
    COUNT, FLAG, TEXT, CheckPart, Field, FleetCheck, ReportFamily, ReportPart, labeled_names, list_of, one_of,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import (
    esc, html_stacked_bar, html_table, remove_stale_temporaries,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, plural

SAVED = 'saved'           # the file was written: the first backup, or the configuration changed
BACKUP_STATUSES = (SAVED, UNCHANGED, FAILED)

# The ``reason`` of a failed phone (a code word; ``error`` holds the sentence).
BAD_NAME = 'bad_name'            # its inventory name cannot be a file name: nothing was sent to it
WRITE_FAILED = 'write_failed'    # the phone was read, its file could not be written

REPORT_SCHEMA = 'phonefleet.grandstream.config_backup'
REPORT_VERSION = 1
SENTENCE_NAMES = 10
MAX_HTML_ROWS = 5000
# A previous file larger than this is not read (a phone's configuration is ~100 KB): it is replaced, without drift.
PREVIOUS_LIMIT = 16 * 1024 * 1024

_WRITE_HINT = 'Check that the backup directory is writable and has free space; the phone\'s last good file was kept.'
_BAD_NAME_HINT = 'Rename the host in the inventory (letters, digits, dots, dashes, underscores); nothing was sent to it.'
_TEMPORARY_RE = re.compile(r'^\.(.+)\.[a-z0-9_]{8}\.tmp$')


def _is_drift(value):
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, dict) and set(item) == set(('before', 'after')) for key, item in value.items())


DRIFT = Field(_is_drift, 'an object of keys, each {"before", "after"}', {})


def read_previous(path):
    """(text of the phone's previous backup file or None, a note when it exists but could not be read)."""
    try:
        if os.path.getsize(path) > PREVIOUS_LIMIT:
            return None, 'the previous file is larger than %d MiB and was not read' % (PREVIOUS_LIMIT // 1048576)
        with open(path, 'rb') as stream:
            data = stream.read()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, 'the previous file could not be read (%s)' % (exc.strerror or exc)
    try:
        return data.decode('utf-8'), None
    except UnicodeDecodeError:
        return None, 'the previous file is not UTF-8 text'


def remove_stale_backup_temporaries(directory, file_names):
    """Remove the temporary files a killed run left beside the phones' files (``.<name>.txt.XXXXXXXX.tmp``, unlocked,
    older than a minute: reports.remove_stale_temporaries); returns their paths."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    wanted = set(file_names)
    names = sorted(set(match.group(1) for match in (_TEMPORARY_RE.match(entry) for entry in entries)
                       if match and match.group(1) in wanted))
    return remove_stale_temporaries(directory, names) if names else []


class BackupPart(CheckPart):
    """Back up every phone's configuration into ``directory``; ``status``, ``source`` and ``drift`` per phone."""

    name = 'backup'
    fields = {
        'status': one_of(BACKUP_STATUSES),
        'source': one_of(SOURCES + (None,)),
        'file': TEXT,
        'keys': COUNT,
        'secrets_left_out': list_of(lambda key: isinstance(key, str), 'a list of setting keys'),
        'drift': DRIFT,
        'first_backup': FLAG,
        'previous_note': TEXT.only_when_set(),
    }
    settings = {'backup_dir': TEXT}

    def __init__(self, directory, check_mode=False):
        self.directory = directory
        self.check_mode = bool(check_mode)

    def read(self, client, target, data):
        file_name = backup_file_name(target.name)
        whole = read_whole(client)
        text = render_backup(whole.values)
        path = os.path.join(self.directory, file_name)
        previous_text, note = read_previous(path)
        data.update(source=whole.source, keys=len(whole.values), secrets_left_out=whole.secrets_left_out, file=file_name,
                    first_backup=previous_text is None and note is None, drift={})
        if previous_text == text:
            data['status'] = UNCHANGED
            return
        if previous_text is not None:
            try:
                data['drift'] = drift(parse_backup(previous_text, file_name), whole.values)
            except ValueError as exc:
                note = 'the previous file could not be read as a backup (%s)' % exc
        if note:
            data['previous_note'] = '%s; no drift against it.' % note
        if not self.check_mode:
            try:
                write_atomic(path, text)
            except OSError as exc:
                data.update(status=FAILED, write_error='%s could not be written: %s.' % (path, exc.strerror or exc))
                return
        data['status'] = SAVED

    def record(self, row, result, target):
        data = result.get('data') or {}
        status = data.get('status') if result.get('ok') else None
        if status in (None, FAILED):
            status = FAILED
            if data.get('write_error'):
                row.update(error=data['write_error'], hint=_WRITE_HINT, reason=WRITE_FAILED, error_class=ERROR)
            else:
                row['error_class'] = result.get('error_class') or ERROR
                try:
                    backup_file_name(row['name'])
                except ValueError as exc:
                    row.update(error='%s.' % exc, hint=_BAD_NAME_HINT, reason=BAD_NAME)
            data = dict(data, drift={}, first_backup=None, file=self._kept_file(row['name']))
        row.update(status=status, source=data.get('source'), keys=data.get('keys'), file=data.get('file'),
                   secrets_left_out=data.get('secrets_left_out', []), drift=data.get('drift', {}),
                   first_backup=data.get('first_backup'))
        if data.get('previous_note'):
            row['previous_note'] = data['previous_note']

    def _kept_file(self, name):
        """The last good file of a failed phone, kept as it was; None when it has none."""
        try:
            file_name = backup_file_name(name)
        except ValueError:
            return None
        return file_name if os.path.isfile(os.path.join(self.directory, file_name)) else None

    def count(self, rows, summary):
        for status in BACKUP_STATUSES:
            summary[status] = 0
        for row in rows:
            summary[row['status']] += 1
        summary['first_backup'] = sum(1 for row in rows if row['status'] != FAILED and row.get('first_backup'))
        summary['drifted'] = sum(1 for row in rows if row.get('drift'))

    def settings_of(self, options):
        return {'backup_dir': self.directory}

    def problems(self, report):
        rows = report['phones']
        return {'saved_phones': [row['name'] for row in rows if row['status'] == SAVED],
                'drifted_phones': [row['name'] for row in rows if row.get('drift')],
                'failed_phones': [row['name'] for row in rows if row['status'] == FAILED]}

    def sentence(self, report):
        summary, rows = report['summary'], report['phones']
        check = bool((report.get('audit') or {}).get('check_mode'))
        counts = ['%d %s%s' % (summary[SAVED], 'would be saved' if check else 'saved',
                               ' (%d first backup%s)' % (summary['first_backup'], '' if summary['first_backup'] == 1 else 's')
                               if summary['first_backup'] else ''),
                  '%d unchanged' % summary[UNCHANGED]]
        if summary[FAILED]:
            counts.append('%d failed' % summary[FAILED])
        text = 'Configuration backup of %s: %s%s.' % (plural(summary['total'], 'phone'), ', '.join(counts),
                                                      ' (check mode: nothing was written)' if check else '')
        drifted = [row for row in rows if row.get('drift')]
        if drifted:
            text += ' Changed since the previous backup: %s.' % name_list(
                ['%s (%s)' % (row['name'], _key_list(row['drift'])) for row in drifted[:SENTENCE_NAMES]]
                + [row['name'] for row in drifted[SENTENCE_NAMES:]], SENTENCE_NAMES)
        failed = [row for row in rows if row['status'] == FAILED]
        if failed:
            text += ' Failed (their last good files are kept): %s.' % name_list(labeled_names(
                [dict(row, status=row.get('reason') or FAILED) for row in failed], SENTENCE_NAMES), SENTENCE_NAMES)
        return text


def _key_list(keys, limit=5):
    keys = list(keys)
    return ', '.join(keys[:limit]) + (' and %d more' % (len(keys) - limit) if len(keys) > limit else '')


def _joined(field):
    return lambda row: ' '.join(row.get(field) or [])


STATUS_COLORS = {SAVED: '#0969da', UNCHANGED: '#1a7f37', FAILED: '#cf222e'}


class BackupReports(ReportPart):
    """The backup part in the JSON (rows as they are, drift with its values), CSV (the drifted keys) and HTML reports."""

    csv_columns = (
        ('name', 'name'), ('host', 'host'), ('port', 'port'), ('site', 'site'), ('model', 'model'), ('status', 'status'),
        ('source', 'source'), ('keys', 'keys'), ('secrets_left_out', _joined('secrets_left_out')),
        ('drift_keys', lambda row: ' '.join(row.get('drift') or {})), ('first_backup', 'first_backup'), ('file', 'file'),
        ('error_class', 'error_class'), ('reason', 'reason'), ('error', 'error'), ('hint', 'hint'),
    )

    def html_overview(self, report):
        summary = report['summary']
        cards = ['<div class="card"><b>%d</b><span>phones</span></div>' % summary['total']]
        cards += ['<div class="card"><b style="color:%s">%d</b><span>%s</span></div>'
                  % (STATUS_COLORS[status], summary[status], esc(status)) for status in BACKUP_STATUSES]
        cards.append('<div class="card"><b>%d</b><span>changed since the previous backup</span></div>' % summary['drifted'])
        return '<div class="cards">%s</div>\n%s' % (''.join(cards), html_stacked_bar(
            [(status, summary[status], STATUS_COLORS[status]) for status in BACKUP_STATUSES]))

    def html_details(self, report):
        rows = report['phones']
        drifted = [row for row in rows if row.get('drift')]
        parts = ['<h2>Changed since the previous backup (%s)</h2>\n' % plural(len(drifted), 'phone')]
        lines = [(esc(row['name']), esc(key), esc(change['before']), esc(change['after']))
                 for row in drifted for key, change in row['drift'].items()]
        if lines:
            parts.append(html_table(('phone', 'key', 'before', 'after'), lines[:MAX_HTML_ROWS]))
            if len(lines) > MAX_HTML_ROWS:
                parts.append('<p>%d more changes in config_backup.json.</p>\n' % (len(lines) - MAX_HTML_ROWS))
        else:
            parts.append('<p class="ok">No phone changed since its previous backup.</p>\n')
        failed = [row for row in rows if row['status'] == FAILED]
        parts.append('<h2>Phones that failed (%d)</h2>\n' % len(failed))
        if failed:
            parts.append(html_table(('phone', 'address', 'last good file', 'what is wrong', 'what to check'), [
                (esc(row['name']), esc(row.get('host')), esc(row.get('file') or 'none'), esc(row.get('error')),
                 '<span class="hint">%s</span>' % esc(row.get('hint'))) for row in failed[:MAX_HTML_ROWS]]))
        else:
            parts.append('<p class="ok">Every phone was backed up.</p>\n')
        return ''.join(parts)

    def html_footer(self, report):
        sources = sorted(set(row['source'] for row in report['phones'] if row.get('source')))
        return ('Secrets (passwords, SNMP communities) are never in a backup file. Sources: %s.'
                % (', '.join(sources) or 'none'))


BACKUP_FAMILY = ReportFamily('config_backup', 'Grandstream configuration backup', [BackupReports()], 'grandstream_config_backup')
REPORT_FORMATS = ('json', 'csv', 'html')
BACKUP_REPORTS = dict((kind, entry) for kind, entry in BACKUP_FAMILY.registry.items() if kind in REPORT_FORMATS)


def backup_check(directory, check_mode=False):
    """The configuration backup as a FleetCheck of one BackupPart."""
    return FleetCheck('config_backup', REPORT_SCHEMA, REPORT_VERSION, [BackupPart(directory, check_mode)])


def drift_diffs(rows):
    """One diff per phone that changed since its previous backup (``--diff``): the drifted keys as backup lines."""
    diffs = []
    for row in rows:
        if not row.get('drift'):
            continue
        header = '%s (%s)' % (row['name'], row['file'])
        before = dict((key, change['before']) for key, change in row['drift'].items() if change['before'] is not None)
        after = dict((key, change['after']) for key, change in row['drift'].items() if change['after'] is not None)
        diffs.append({'before_header': header, 'after_header': header, 'before': render_backup(before),
                      'after': render_backup(after)})
    return diffs
