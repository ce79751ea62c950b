# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging sliced audit reports: which files are read, what is refused, what the merged report holds."""

import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.modules import registration_report_merge
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import build_report, registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import MergeError, find_reports, merge_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS


def phone(name, status='registered', **fields):
    return dict({'name': name, 'host': '10.0.0.1', 'port': 80, 'status': status, 'compliant': status == 'registered',
                 'firmware_status': 'not_checked'}, **fields)


def write(path, phones, audit=None, legacy=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(phones, dict({'required_accounts': [], 'firmware_minimum': {}, 'finished_at': '2026-12-03T02:00:00Z',
                                        'started_at': '2026-12-03T01:59:58Z', 'duration_seconds': 2.0}, **(audit or {})))
    if legacy:
        del report['schema']
    path.write_text(json.dumps(report))
    return path


def test_directories_are_searched_at_any_depth_and_the_output_is_left_out(tmp_path):
    first = write(tmp_path / 'launch' / '1200' / 'registration_audit.json', [phone('a')])
    second = write(tmp_path / 'launch' / '1201' / 'registration_audit.json', [phone('b')])
    write(tmp_path / 'launch' / 'merged' / 'registration_audit.json', [phone('a'), phone('b')])
    found = find_reports([str(tmp_path / 'launch'), str(first)], exclude=str(tmp_path / 'launch' / 'merged'))
    assert found == [str(first), str(second)], 'each file once, the output directory never'


def test_the_merged_report_counts_again_and_keeps_every_phone(tmp_path):
    paths = [write(tmp_path / 'a.json', [phone('a'), phone('b', 'unreachable')]),
             write(tmp_path / 'b.json', [phone('c', 'unregistered')], {'finished_at': '2026-12-03T02:00:09Z'}),
             write(tmp_path / 'c.json', [phone('d')], legacy=True)]
    report, slices = merge_reports([str(path) for path in paths], registration_check())
    summary = report['summary']
    assert (summary['total'], summary['registered'], summary['unreachable'], summary['unregistered']) == (4, 2, 1, 1)
    assert summary['compliance_percent'] == 50.0 and [item['phones'] for item in slices] == [2, 1, 1]
    assert report['audit']['finished_at'] == '2026-12-03T02:00:09Z' and report['audit']['duration_seconds'] == 6.0
    legacy = [item for item in report['phones'] if item['name'] == 'd'][0]
    assert legacy['firmware'] is None and legacy['firmware_status'] == 'not_checked', 'a 0.1.x report gets the new fields'


@pytest.mark.parametrize('second, words', [
    ({'phones': [phone('a')]}, 'a is in'),
    ({'phones': [phone('z')], 'audit': {'required_accounts': [1]}}, 'reports of different audits (required_accounts differ)'),
    ({'phones': [phone('z')], 'audit': {'firmware_minimum': {'GXP*': '1.0'}}}, 'firmware_minimum differ'),
])
def test_slices_that_are_not_one_audit_are_refused(tmp_path, second, words):
    first = write(tmp_path / 'a.json', [phone('a')])
    other = write(tmp_path / 'b.json', second['phones'], second.get('audit'))
    with pytest.raises(MergeError) as caught:
        merge_reports([str(first), str(other)], registration_check())
    assert words in str(caught.value) and str(other) in str(caught.value)


@pytest.mark.parametrize('content, words', [
    ('not json', 'cannot read it as a JSON report'),
    (json.dumps({'phones': []}), 'not a registration audit report'),
    (json.dumps({'schema': {'name': 'x'}, 'summary': {}, 'phones': []}), 'a report of another kind'),
    (json.dumps({'schema': {'name': 'phonefleet.grandstream.registration_audit', 'version': 9}, 'summary': {}, 'phones': []}),
     'schema version 9'),
    (json.dumps({'summary': {}, 'phones': [{'name': 'a', 'status': 'fine'}]}), 'phone 1 has no name or no known status'),
])
def test_files_that_are_not_reports_are_refused_by_name(tmp_path, content, words):
    path = tmp_path / 'x.json'
    path.write_text(content)
    with pytest.raises(MergeError) as caught:
        merge_reports([str(path)], registration_check())
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_nothing_to_merge_is_an_error():
    with pytest.raises(MergeError) as caught:
        find_reports([])
    assert 'registration_audit_merge_inputs is empty' in str(caught.value)


def test_the_module_offers_exactly_the_registered_formats():
    assert list(registration_report_merge.REPORT_FORMATS) == list(REGISTRATION_REPORTS)


def deep(levels):
    value = 'x'
    for dummy in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize('change, words', [
    (lambda phone: phone.update(accounts=5), 'phone 1 (a): "accounts" must be a list of accounts'),
    (lambda phone: phone.update(accounts=[{'id': 1, 'configured': 'yes', 'registered': True}]), '"accounts" must be'),
    (lambda phone: phone.update(site=['hq']), 'phone 1 (a): "site" must be a string or null, not [\'hq\']'),
    (lambda phone: phone.update(port='80'), '"port" must be a whole number or null'),
    (lambda phone: phone.update(compliant='true'), '"compliant" must be true, false or null'),
    (lambda phone: phone.update(seconds=float('nan')), '"seconds" must be a number or null'),
    (lambda phone: phone.update(firmware_status='great'), '"firmware_status" must be one of compliant, outdated'),
    (lambda phone: phone.update(extra=deep(40)), '"extra" is nested deeper than 32 levels'),
    (lambda phone: phone.update(name='\x1b[2Jevil'), None),
])
def test_a_malformed_phone_is_refused_with_the_file_the_phone_and_the_field(tmp_path, change, words):
    row = phone('a', 'unregistered', site='hq', accounts=[])
    change(row)
    path = write(tmp_path / 'slice.json', [row])
    if words is None:  # a hostile name is not malformed: it is kept, and every report shows it safely
        report, dummy = merge_reports([str(path)], registration_check())
        assert report['phones'][0]['name'] == '\x1b[2Jevil'
        return
    with pytest.raises(MergeError) as caught:
        merge_reports([str(write(tmp_path / 'ok.json', [phone('z')])), str(path)], registration_check())
    assert str(path) in str(caught.value) and words in str(caught.value)
    assert '\x1b' not in str(caught.value)


@pytest.mark.parametrize('content, words', [
    ('[' * 100000 + ']' * 100000, 'nested too deeply'),
    (b'\xff\xfe not utf-8', 'cannot read it as a JSON report'),
    (json.dumps({'schema': 'x', 'summary': {}, 'phones': []}), "a report of another kind (schema 'x')"),
    (json.dumps({'summary': {}, 'phones': [], 'audit': []}), '"audit" must be an object, not []'),
    (json.dumps({'summary': {}, 'phones': [], 'audit': {'required_accounts': 'all'}}),
     '"audit.required_accounts" must be a list of account numbers'),
    (json.dumps({'summary': {}, 'phones': [], 'audit': {'firmware_minimum': ['GXP16*']}}), '"audit.firmware_minimum" must be'),
    (json.dumps({'summary': {}, 'phones': [5]}), 'phone 1 has no name or no known status'),
])
def test_a_malformed_file_is_refused_by_name(tmp_path, content, words):
    path = tmp_path / 'x.json'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(MergeError) as caught:
        merge_reports([str(path)], registration_check())
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_a_slice_with_a_lone_surrogate_merges_and_every_report_renders(tmp_path):
    path = tmp_path / 'slice.json'
    report = build_report([phone('a', 'unregistered', error='bad \ud800 \x1b[31m', site='h\udc00q', accounts=[])],
                          {'required_accounts': [], 'firmware_minimum': {}})
    path.write_text(json.dumps(report))  # ensure_ascii: "\ud800" escaped, valid JSON
    merged, dummy = merge_reports([str(path)], registration_check())
    assert merged['phones'][0]['error'] == 'bad \ud800 \x1b[31m'
    for file_name, render in REGISTRATION_REPORTS.values():
        render(merged).encode('utf-8')
