# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writing: the dispatcher, CSV, JUnit XML, Prometheus text format, HTML."""

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import reports

HOSTILE = 'a"b\\c\n<d>&\'e\x01'


# -- CSV ----------------------------------------------------------------------------------

@pytest.mark.parametrize('value, cell', [
    (None, ''), (True, 'true'), (False, 'false'), (3, '3'), (0.5, '0.5'), ('gs0001', 'gs0001'),
    ('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ('+1', "'+1"), ('-1', "'-1"), ('@SUM(A1)', "'@SUM(A1)"),
])
def test_csv_cells(value, cell):
    assert reports.csv_cell(value) == cell


def test_csv_text_round_trips_awkward_text():
    rows = [{'name': 'a,b', 'note': 'line1\nline2 "quoted"'}, {'name': 'c', 'note': None}]
    text = reports.csv_text(rows, [('name', 'name'), ('note', 'note'), ('length', lambda row: len(row['name']))])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [['name', 'note', 'length'], ['a,b', 'line1\nline2 "quoted"', '3'], ['c', '', '1']]


# -- JUnit XML ----------------------------------------------------------------------------

def test_junit_xml_is_valid_and_counts_failures():
    cases = [
        {'name': 'gs0001', 'classname': 'audit.hq', 'time': 0.1},
        {'name': HOSTILE, 'classname': 'audit.hq', 'time': 0.25,
         'failure': {'type': 'unregistered', 'message': HOSTILE, 'text': 'text ' + HOSTILE}},
        {'name': 'gs0003', 'time': 0, 'error': {'type': 'error', 'message': 'boom'}, 'output': 'out'},
        {'name': 'gs0004', 'skipped': 'not asked'},
    ]
    text = reports.junit_xml('registration_audit', cases, timestamp='2025-01-02T03:04:05Z', properties=[('compliance_percent', 25.0)])
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode('utf-8'))
    assert root.tag == 'testsuites'
    suite = root.find('testsuite')
    assert suite.get('tests') == '4' and suite.get('failures') == '1' and suite.get('errors') == '1' and suite.get('skipped') == '1'
    assert suite.get('timestamp') == '2025-01-02T03:04:05Z'
    assert suite.get('time') == '0.350'
    assert suite.find('properties/property').get('value') == '25.0'
    testcases = suite.findall('testcase')
    assert [case.get('name') for case in testcases][0] == 'gs0001'
    hostile = testcases[1]
    # control characters are not allowed in XML 1.0: replaced, everything else survives escaping
    assert hostile.get('name') == 'a"b\\c\n<d>&\'e\ufffd'
    assert hostile.find('failure').get('type') == 'unregistered'
    assert hostile.find('failure').text == 'text a"b\\c\n<d>&\'e\ufffd'
    assert testcases[2].find('error').text == 'boom'
    assert testcases[2].find('system-out').text == 'out'
    assert testcases[3].find('skipped').get('message') == 'not asked'
    assert testcases[2].get('classname') == 'registration_audit'


# -- Prometheus text format ---------------------------------------------------------------

def test_prometheus_text_exact_output_and_escaping():
    text = reports.prometheus_text([
        {'name': 'demo_up', 'help': 'Help with \\ and\nnewline.', 'samples': [
            ({'name': 'gs1', 'site': 'a"b\\c\nd'}, 1), ({'name': 'gs2', 'site': ''}, 0)]},
        {'name': 'demo_ratio', 'type': 'gauge', 'help': 'Ratio.', 'samples': [({}, 0.25), ({'x': 'inf'}, float('inf')), ({'x': 'nan'}, float('nan'))]},
        {'name': 'demo_flag', 'help': 'Flag.', 'samples': [({}, True)]},
    ])
    assert text == (
        '# HELP demo_up Help with \\\\ and\\nnewline.\n'
        '# TYPE demo_up gauge\n'
        'demo_up{name="gs1",site="a\\"b\\\\c\\nd"} 1\n'
        'demo_up{name="gs2",site=""} 0\n'
        '# HELP demo_ratio Ratio.\n'
        '# TYPE demo_ratio gauge\n'
        'demo_ratio 0.25\n'
        'demo_ratio{x="inf"} +Inf\n'
        'demo_ratio{x="nan"} NaN\n'
        '# HELP demo_flag Flag.\n'
        '# TYPE demo_flag gauge\n'
        'demo_flag 1\n'
    )


@pytest.mark.parametrize('family', [
    {'name': '1bad', 'samples': []},
    {'name': 'good', 'type': 'histogram', 'samples': []},
    {'name': 'good', 'samples': [({'bad-label': 'x'}, 1)]},
    {'name': 'good', 'samples': [({'__reserved': 'x'}, 1)]},
])
def test_prometheus_text_rejects_what_the_format_forbids(family):
    with pytest.raises(ValueError):
        reports.prometheus_text([family])


def test_prometheus_family_names_are_unique():
    with pytest.raises(ValueError):
        reports.prometheus_text([{'name': 'x', 'samples': []}, {'name': 'x', 'samples': []}])


# -- HTML ---------------------------------------------------------------------------------

def test_html_pieces_escape():
    page = reports.html_page('<T&>', '<p>body</p>', subtitle='"sub"')
    assert '<title>&lt;T&amp;&gt;</title>' in page
    assert '&quot;sub&quot;' in page
    assert reports.esc(None) == ''
    assert reports.esc('<a href="x">') == '&lt;a href=&quot;x&quot;&gt;'
    assert 'width:100.00%' in reports.html_bar(140)
    assert 'width:0.00%' in reports.html_bar(-3)
    table = reports.html_table(('a', 'b'), [('1', '<b>2</b>')], numeric=(0,))
    assert '<td class="num">1</td><td><b>2</b></td>' in table
