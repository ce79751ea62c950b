# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports that one phone or a full disk cannot destroy: every format survives any text in any field, and a report
set is replaced as a whole or not at all (ENOSPC at each file, EROFS, a format that fails), with no temporary left."""

import csv
import errno
import io
import json
import os
import re
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import build_report
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS

HOSTILE = [
    '\ud800', 'a\udfffb', '\x1b[2J\x1b]0;owned\x07', 'nul\x00byte', 'line1\nline2\r\nline3', '\x9b31m C1 CSI',
    '\x7f', 'tab\there', '=HYPERLINK("x")', '"quoted" <script>alert(1)</script> & \'', 'é€😀', 'x' * 1000000,
]
FILES = sorted(name for name, dummy in REGISTRATION_REPORTS.values())


def hostile_phone(number, text):
    return {'name': 'gs%02d %s' % (number, text), 'host': text, 'port': 80, 'site': text, 'model': text, 'model_source': 'phone',
            'firmware': text, 'mac': text, 'default_password': True, 'auth': text, 'status': 'unregistered', 'compliant': False,
            'reachable': True, 'accounts': [{'id': 1, 'name': text, 'sip_id': text, 'sip_server': text, 'configured': True,
                                             'registered': False}],
            'phone_status': text, 'error': text, 'hint': text, 'reason': text, 'seconds': 0.1,
            'firmware_status': 'outdated', 'firmware_compliant': False, 'firmware_minimum': text, 'firmware_reason': text,
            'firmware_error': text}


def hostile_report():
    phones = [hostile_phone(number, text) for number, text in enumerate(HOSTILE)]
    return build_report(phones, {'finished_at': HOSTILE[2], 'started_at': HOSTILE[0], 'finished_epoch': 1796000000.0,
                                 'duration_seconds': 2.0, 'required_accounts': [1], 'fail_on_firmware': True,
                                 'firmware_minimum': {HOSTILE[0]: '1.0', 'GXP16*': HOSTILE[2]}})


_PROM_LINE = re.compile(r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="'
                        r'([^"\\\n]|\\\\|\\"|\\n)*",?)*\})? [-+0-9.eEInfNa]+)$')


@pytest.mark.parametrize('kind', sorted(REGISTRATION_REPORTS))
def test_every_format_survives_any_text_in_any_field(kind):
    file_name, render = REGISTRATION_REPORTS[kind]
    text = render(hostile_report())
    data = text.encode('utf-8')  # a lone surrogate would raise here
    shown = data.decode('utf-8')
    # nothing that drives a terminal reaches the file: no ESC, no C1 control, no NUL, no BEL
    assert not re.search('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]', shown), file_name
    if kind == 'json':
        parsed = json.loads(shown)
        assert parsed['phones'][0]['error'] == '\ud800', 'the JSON report keeps every character, escaped'
        assert parsed['phones'][2]['site'] == HOSTILE[2]
        assert len(parsed['phones'][11]['hint']) == 1000000
    elif kind == 'csv':
        rows = list(csv.DictReader(io.StringIO(shown)))
        assert len(rows) == len(HOSTILE)
        assert rows[4]['error'] == 'line1\nline2\r\nline3', 'newlines survive inside a quoted cell'
        assert rows[8]['error'].startswith("'="), 'a formula is never run by a spreadsheet'
        assert max(len(value) for row in rows for value in row.values()) <= reports.CSV_CELL_MAX + 1
    elif kind == 'junit':
        root = ET.fromstring(data)
        cases = root.find('testsuite').findall('testcase')
        assert len(cases) == len(HOSTILE) and all(case.find('failure') is not None for case in cases)
    elif kind == 'html':
        assert '<script>' not in shown and '&lt;script&gt;' in shown
        assert len(shown) < 2 * len(HOSTILE) * 40 * reports.HTML_TEXT_MAX, 'a megabyte of text is cut on the page'
    else:
        for line in shown.splitlines():
            assert _PROM_LINE.match(line), line[:200]
        assert shown.endswith('\n')


def test_clean_text_replaces_what_cannot_be_shown_and_cuts():
    assert reports.clean_text('a\ud800b\x1bc\x00\x9b') == 'a\ufffdb\ufffdc\ufffd\ufffd'
    assert reports.clean_text('a\nb\tc') == 'a\nb\tc'
    assert reports.clean_text('a\nb', one_line=True) == 'a\ufffdb'
    assert reports.clean_text('abcdef', 4) == 'abc\u2026'
    assert reports.clean_text(None) == '' and reports.clean_text(3) == '3'


def test_json_text_escapes_what_a_file_or_a_terminal_cannot_take_and_keeps_odd_values():
    text = reports.json_text({'a': '\ud800\x9b', 'b': {1, 2}, 'c': b'x\xff', 'd': object})
    assert '\\ud800\\u009b' in text
    parsed = json.loads(text)
    assert parsed['a'] == '\ud800\x9b' and sorted(parsed['b']) == [1, 2] and parsed['c'] == 'x\ufffd'


# -- the report set --------------------------------------------------------------------------------------------------

def old_set(directory, prometheus_dir=None):
    directory.mkdir(parents=True, exist_ok=True)
    for kind, (name, dummy) in REGISTRATION_REPORTS.items():
        folder = prometheus_dir if kind == 'prometheus' and prometheus_dir else directory
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text('old %s\n' % kind)


def small_report():
    phone = hostile_phone(1, 'plain')
    phone.update(status='registered', compliant=True, error=None, hint=None, reason=None)
    return build_report([phone], {'finished_at': '2026-12-03T02:00:00Z', 'finished_epoch': 1796000000.0, 'duration_seconds': 1.0})


def listing(*directories):
    return sorted('%s/%s' % (directory.name, entry) for directory in directories if directory.exists()
                  for entry in os.listdir(str(directory)))


@pytest.mark.parametrize('failing', range(len(REGISTRATION_REPORTS)))
@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_a_write_that_fails_at_any_file_keeps_the_whole_previous_set(tmp_path, monkeypatch, failing, code):
    directory, textfile = tmp_path / 'reports', tmp_path / 'textfile'
    old_set(directory, textfile)
    before = listing(directory, textfile)
    real = reports._write_temporary
    calls = []

    def writer(target, data):
        calls.append(target)
        if len(calls) == failing + 1:
            raise OSError(code, os.strerror(code), target + '.tmp')
        return real(target, data)

    monkeypatch.setattr(reports, '_write_temporary', writer)
    with pytest.raises(reports.ReportSetError) as caught:
        reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(directory), list(REGISTRATION_REPORTS),
                                 directories={'prometheus': str(textfile)})
    message = str(caught.value)
    assert message.startswith('%s: %s.' % (calls[-1], os.strerror(code))), 'names the file, not its temporary'
    assert 'Nothing of this run was written' in message and 'the previous reports were kept' in message
    assert str(textfile / 'registration_audit.prom') in message
    assert caught.value.errno == code and caught.value.filename == calls[-1]
    assert listing(directory, textfile) == before, 'no temporary left, nothing replaced'
    for kind, (name, dummy) in REGISTRATION_REPORTS.items():
        folder = textfile if kind == 'prometheus' else directory
        assert (folder / name).read_text() == 'old %s\n' % kind


def test_a_directory_that_cannot_be_made_keeps_the_set_and_says_so(tmp_path):
    directory = tmp_path / 'reports'
    old_set(directory)
    blocker = tmp_path / 'not_a_directory'
    blocker.write_text('x')
    with pytest.raises(reports.ReportSetError) as caught:
        reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(directory), list(REGISTRATION_REPORTS),
                                 directories={'prometheus': str(blocker / 'textfile')})
    assert str(blocker / 'textfile') in str(caught.value) and 'the previous reports were kept' in str(caught.value)
    assert sorted(os.listdir(str(directory))) == FILES
    assert (directory / 'registration_audit.json').read_text() == 'old json\n'


def test_without_an_earlier_set_the_error_says_nothing_was_kept(tmp_path, monkeypatch):
    def writer(target, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), target)

    monkeypatch.setattr(reports, '_write_temporary', writer)
    with pytest.raises(reports.ReportSetError) as caught:
        reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(tmp_path / 'r'), ['json', 'csv'])
    assert str(caught.value) == '%s: Read-only file system. Nothing of this run was written.' % (tmp_path / 'r' / 'registration_audit.json')
    assert os.listdir(str(tmp_path / 'r')) == []


def test_a_format_that_fails_to_render_costs_only_itself_and_leaves_no_stale_file(tmp_path):
    directory = tmp_path / 'reports'
    old_set(directory)
    registry = dict(REGISTRATION_REPORTS)
    registry['html'] = (registry['html'][0], lambda report: 1 / 0)
    with pytest.raises(reports.ReportSetError) as caught:
        reports.write_report_set(registry, small_report(), str(directory), list(registry))
    message = str(caught.value)
    assert 'the html report could not be made (html: ZeroDivisionError' in message and 'please report it' in message
    assert 'the earlier %s was removed' % (directory / 'registration_audit.html') in message
    assert sorted(caught.value.written) == ['csv', 'json', 'junit', 'prometheus']
    assert not (directory / 'registration_audit.html').exists(), 'an old page must not pass for this run'
    assert json.loads((directory / 'registration_audit.json').read_text())['summary']['total'] == 1
    assert sorted(os.listdir(str(directory))) == sorted(set(FILES) - {'registration_audit.html'})


def test_a_rename_that_fails_never_leaves_files_of_two_runs(tmp_path, monkeypatch):
    directory = tmp_path / 'reports'
    old_set(directory)
    real = os.replace
    done = []

    def replace(source, target):
        if len(done) == 2:
            raise OSError(errno.EIO, 'Input/output error', target)
        done.append(target)
        return real(source, target)

    monkeypatch.setattr(reports.os, 'replace', replace)
    with pytest.raises(reports.ReportSetError) as caught:
        reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(directory), list(REGISTRATION_REPORTS))
    assert 'removed, so that they do not pass for this run' in str(caught.value)
    left = sorted(os.listdir(str(directory)))
    assert left == sorted(os.path.basename(path) for path in done), 'only this run\'s files, no temporary'
    assert all('old' not in (directory / name).read_text() for name in left)


def test_a_set_is_written_whole_and_replaces_the_old_one(tmp_path):
    directory = tmp_path / 'reports'
    old_set(directory)
    written = reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(directory), list(REGISTRATION_REPORTS))
    assert sorted(written) == sorted(REGISTRATION_REPORTS)
    assert sorted(os.listdir(str(directory))) == FILES
    assert all('old' not in (directory / name).read_text() for name in FILES)


# -- what a killed writer leaves ---------------------------------------------------------------------------------------

def test_stale_temporaries_of_our_reports_are_removed_at_the_next_write(tmp_path):
    directory = tmp_path / 'reports'
    directory.mkdir()
    old = time.time() - 3600
    stale = directory / '.registration_audit.json.abcd_123.tmp'
    stale.write_bytes(b'x' * 1000)
    os.utime(str(stale), (old, old))
    young = directory / '.registration_audit.csv.young123.tmp'
    young.write_text('being written')
    foreign = [directory / '.other.json.abcd1234.tmp', directory / '.registration_audit.json.tmp',
               directory / 'registration_audit.json.abcd1234.tmp', directory / '.registration_audit.json.abcd12345.tmp']
    for path in foreign:
        path.write_text('not ours')
        os.utime(str(path), (old, old))
    locked = directory / '.registration_audit.html.locked12.tmp'
    locked.write_text('a writer at work')
    os.utime(str(locked), (old, old))
    handle = open(str(locked), 'rb')  # pylint: disable=consider-using-with
    try:
        reports.fcntl.flock(handle.fileno(), reports.fcntl.LOCK_EX | reports.fcntl.LOCK_NB)
        reports.write_report_set(REGISTRATION_REPORTS, small_report(), str(directory), list(REGISTRATION_REPORTS))
    finally:
        handle.close()
    left = set(os.listdir(str(directory)))
    assert stale.name not in left, 'a dead writer\'s temporary is removed'
    assert young.name in left, 'a temporary younger than a minute may belong to a writer that has not locked it yet'
    assert locked.name in left, 'a locked temporary belongs to a live writer'
    assert all(path.name in left for path in foreign), 'only our own pattern is touched'
    assert set(FILES) <= left


def test_without_locks_only_old_temporaries_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, 'fcntl', None)
    now = time.time()
    middle = tmp_path / '.registration_audit.prom.midd1234.tmp'
    ancient = tmp_path / '.registration_audit.prom.ancient1.tmp'
    for path, age in ((middle, 300), (ancient, 3600)):
        path.write_text('x')
        os.utime(str(path), (now - age, now - age))
    removed = reports.remove_stale_temporaries(str(tmp_path), ['registration_audit.prom'], now=now)
    assert removed == [str(ancient)] and middle.exists()
