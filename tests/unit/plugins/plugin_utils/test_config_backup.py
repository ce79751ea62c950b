# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration backup on the fleet-check skeleton, with fixture phones: files saved, not rewritten when unchanged,
drift, the last good file of a failing phone, check mode, a file that cannot be written, stale temporaries, the
reports."""

import csv
import io
import json
import os
import time

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings_backup import parse_backup
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import config_backup
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone

SECRET = 'Sip-S3cret-7'


def fleet(models=('GRP2614', 'WP826', 'GXP1628')):
    phones = {}
    for number, model in enumerate(models, 1):
        phone = FixturePhone.of_model(model, host='10.1.4.%d' % number, settings={'P34': SECRET})
        phones['gs%04d' % number] = phone
    return phones


def targets_of(phones):
    return [FleetTarget(name, phone.connection(name=name), {'model': phone.model}) for name, phone in phones.items()]


def run(phones, directory, check_mode=False, targets=None):
    check = config_backup.backup_check(str(directory), check_mode)
    report = check.run(targets or targets_of(phones), {}, concurrency=4, check_mode=check_mode,
                       transport_factory=lambda target: phones[target.name])
    return check, report


def rows(report):
    return dict((row['name'], row) for row in report['phones'])


def stat(path):
    info = os.stat(str(path))
    return info.st_ino, info.st_mtime_ns


def test_first_backup_then_unchanged_then_drift(tmp_path):
    phones = fleet()
    check, report = run(phones, tmp_path)
    assert report['summary'] == {'total': 3, 'saved': 3, 'unchanged': 0, 'failed': 0, 'first_backup': 3, 'drifted': 0}
    for name, phone in phones.items():
        text = (tmp_path / ('%s.txt' % name)).read_text()
        assert SECRET not in text and 'P34=' not in text and 'P2=' not in text
        store = phone.settings
        assert parse_backup(text) == dict(('P' + key, store.value_of(key)) for key in store.numbers() if key not in store.secrets)
    first = dict((name, stat(tmp_path / ('%s.txt' % name))) for name in phones)

    check, report = run(phones, tmp_path)
    assert report['summary']['unchanged'] == 3 and report['summary']['saved'] == 0
    assert dict((name, stat(tmp_path / ('%s.txt' % name))) for name in phones) == first

    phones['gs0002'].settings.set('30', 'ntp.changed.net')
    phones['gs0002'].settings.set('8375', '1')
    check, report = run(phones, tmp_path)
    found = rows(report)
    assert found['gs0002']['status'] == 'saved' and found['gs0002']['first_backup'] is False
    assert found['gs0002']['drift'] == {'P30': {'before': 'pool.ntp.org', 'after': 'ntp.changed.net'},
                                        'P8375': {'before': '0', 'after': '1'}}
    assert [name for name, row in found.items() if row['drift']] == ['gs0002']
    assert stat(tmp_path / 'gs0001.txt') == first['gs0001']
    assert check.problems(report) == {'saved_phones': ['gs0002'], 'drifted_phones': ['gs0002'], 'failed_phones': []}
    assert 'gs0002 (P30, P8375)' in check.message(report)
    diffs = config_backup.drift_diffs(report['phones'])
    assert diffs == [{'before_header': 'gs0002 (gs0002.txt)', 'after_header': 'gs0002 (gs0002.txt)',
                      'before': 'P30=pool.ntp.org\nP8375=0\n', 'after': 'P30=ntp.changed.net\nP8375=1\n'}]


def test_a_failing_phone_keeps_its_last_good_file(tmp_path):
    phones = fleet()
    run(phones, tmp_path)
    kept = (tmp_path / 'gs0003.txt').read_bytes(), stat(tmp_path / 'gs0003.txt')
    phones['gs0003'].settings.set('30', 'never.saved')
    phones['gs0003'].set_fault('refused')
    check, report = run(phones, tmp_path)
    row = rows(report)['gs0003']
    assert (row['status'], row['error_class'], row['file'], row['drift']) == ('failed', 'unreachable', 'gs0003.txt', {})
    assert ((tmp_path / 'gs0003.txt').read_bytes(), stat(tmp_path / 'gs0003.txt')) == kept
    assert 'Failed (their last good files are kept): gs0003 unreachable' in check.message(report)
    # a phone that never had a file says so
    phones = fleet(('GRP2614',))
    phones['gs0001'].set_fault('refused')
    check, report = run(phones, tmp_path / 'empty')
    assert rows(report)['gs0001']['file'] is None


def test_check_mode_writes_nothing(tmp_path):
    phones = fleet()
    check, report = run(phones, tmp_path, check_mode=True)
    assert report['summary']['saved'] == 3 and os.listdir(str(tmp_path)) == []
    assert 'would be saved' in check.message(report) and 'check mode: nothing was written' in check.message(report)
    run(phones, tmp_path)
    before = dict((name, stat(tmp_path / ('%s.txt' % name))) for name in phones)
    phones['gs0001'].settings.set('30', 'x.example.net')
    check, report = run(phones, tmp_path, check_mode=True)
    assert rows(report)['gs0001']['drift'] == {'P30': {'before': 'pool.ntp.org', 'after': 'x.example.net'}}
    assert dict((name, stat(tmp_path / ('%s.txt' % name))) for name in phones) == before


def test_a_file_that_cannot_be_written_fails_the_phone_only(tmp_path):
    phones = fleet(('GRP2614', 'WP826'))
    (tmp_path / 'gs0001.txt').mkdir()  # a directory where the file should be: the rename fails
    check, report = run(phones, tmp_path)
    found = rows(report)
    assert found['gs0001']['status'] == 'failed' and found['gs0001']['reason'] == 'write_failed'
    assert 'could not be written' in found['gs0001']['error'] and found['gs0002']['status'] == 'saved'
    assert not [entry for entry in os.listdir(str(tmp_path)) if entry.endswith('.tmp')]


def test_a_previous_file_that_is_not_a_backup_is_replaced_without_drift(tmp_path):
    phones = fleet(('GRP2614',))
    (tmp_path / 'gs0001.txt').write_text('hello\n')
    check, report = run(phones, tmp_path)
    row = rows(report)['gs0001']
    assert row['status'] == 'saved' and row['drift'] == {} and row['first_backup'] is False
    assert "gs0001.txt:1: not a P<number>=<value> line: 'hello'" in row['previous_note']
    (tmp_path / 'gs0001.txt').write_bytes(b'P30=\xff\n')
    check, report = run(phones, tmp_path)
    assert 'not UTF-8' in rows(report)['gs0001']['previous_note']


def test_a_name_that_cannot_be_a_file_name_is_not_contacted(tmp_path):
    phones = fleet(('GRP2614',))
    target = FleetTarget('../escape', variables={'ansible_host': '10.1.4.9'}, problem='its inventory name cannot be...',
                         problem_reason='bad_variables')
    check, report = run(phones, tmp_path, targets=targets_of(phones) + [target])
    row = rows(report)['../escape']
    assert row['status'] == 'failed' and row['reason'] == 'bad_name' and 'path separator' not in row['error']
    assert 'starts with a dot' in row['error']
    assert sorted(os.listdir(str(tmp_path))) == ['gs0001.txt']


def test_stale_temporaries_of_the_phones_files_are_removed(tmp_path):
    old = time.time() - 600
    names = {'stale': '.gs0001.txt.abcd1234.tmp', 'young': '.gs0002.txt.abcd1234.tmp', 'other': '.notes.txt.abcd1234.tmp'}
    for key, name in names.items():
        (tmp_path / name).write_text('x')
        if key != 'young':
            os.utime(str(tmp_path / name), (old, old))
    removed = config_backup.remove_stale_backup_temporaries(str(tmp_path), ['gs0001.txt', 'gs0002.txt'])
    assert removed == [str(tmp_path / names['stale'])]
    assert sorted(os.listdir(str(tmp_path))) == sorted([names['young'], names['other']])


def test_reports_show_drift_and_failures_and_survive_hostile_text(tmp_path):
    phones = fleet(('GRP2614', 'WP826'))
    run(phones, tmp_path)
    phones['gs0001'].settings.set('207', '<script>alert(1)</script>\n=cmd|x')
    phones['gs0002'].set_fault('refused')
    check, report = run(phones, tmp_path)
    rendered = dict((kind, render(report)) for kind, (dummy, render) in config_backup.BACKUP_REPORTS.items())
    assert sorted(rendered) == ['csv', 'html', 'json']
    assert json.loads(rendered['json'])['phones'][0]['drift']['P207']['after'] == '<script>alert(1)</script>\n=cmd|x'
    table = list(csv.DictReader(io.StringIO(rendered['csv'])))
    assert [(row['name'], row['status'], row['drift_keys']) for row in table] == [
        ('gs0001', 'saved', 'P207'), ('gs0002', 'failed', '')]
    assert '<script>' not in rendered['html'] and '&lt;script&gt;' in rendered['html']
    assert 'Changed since the previous backup (1 phone)' in rendered['html']
    assert 'Phones that failed (1)' in rendered['html']
    for text in rendered.values():
        assert SECRET not in text


@pytest.mark.parametrize('model', ['GRP2614', 'GXP1628'])
def test_one_login_per_phone(model, tmp_path):
    phones = fleet((model,))
    run(phones, tmp_path)
    assert phones['gs0001'].functions().count('dologin') == 1
