# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot's report files (HTML for a person, hostile text escaped), the plan file of check mode and the
summary sentence that gives each problem phone's reason."""

import html
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import ROLLING_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import plan_report, rolling_summary_sentence
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import FakeFleet, make_run

HOSTILE = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE phones; --",
    '</td></tr></table><h1>owned</h1>',
    '\x1b[31mred\x1b[0m & <b>bold</b>',
]


@pytest.fixture(name='report')
def fixture_report(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(3)
    fleet.add('dark', faults=['never_up'])
    fleet.add('gone', faults=['unreachable'])
    return make_run(fleet, tmp_path, settings={'batch_size': 2}).run()


def test_the_html_report_shows_outcomes_problems_and_batches(report):
    page = ROLLING_REPORTS['html'][1](report)
    assert ROLLING_REPORTS['html'][0] == 'rolling_reboot.html'
    assert page.startswith('<!DOCTYPE html>') and '<title>Grandstream rolling reboot</title>' in page
    assert 'Phones that need attention (2)' in page
    assert 'dark (10.9.0.4): the phone went down after REBOOT but did not answer again' in page
    assert '>never_up<' in page and '>unreachable<' in page
    assert '<h2>Batches</h2>' in page and 'r1.json' in page
    assert '<script' not in page


@pytest.mark.parametrize('hostile', HOSTILE)
def test_hostile_text_cannot_break_the_html_report(report, hostile):
    for phone in report['phones']:
        phone.update(name=hostile + phone['name'], error=hostile if phone['error'] else None, note=hostile,
                     reason=hostile if phone['reason'] else None)
    report['summary'].update(stop_message=hostile, stopped_reason='window', run_id=hostile)
    page = ROLLING_REPORTS['html'][1](report)
    lower = page.lower()
    assert '<script' not in lower and '<img' not in lower and '<b>' not in lower and '</table><h1>' not in lower
    assert lower.count('<h1>') == 1, 'only the page title'
    assert '\x1b' not in page, 'no control character reaches the page'
    assert html.escape(hostile.replace('\x1b', '?'), quote=True) in page
    ET.fromstring(ROLLING_REPORTS['junit'][1](report).split('\n', 1)[1])  # the JUnit file stays valid XML


def test_check_mode_writes_a_plan_file_not_the_report():
    assert plan_report(RebootChange) == {'plan': ('rolling_reboot.plan.json', plan_report(RebootChange)['plan'][1])}
    assert 'plan' not in ROLLING_REPORTS


def test_the_summary_sentence_names_each_problem_phone_with_its_reason(report):
    problems = [(phone['name'], phone['reason']) for phone in report['phones']
                if phone['outcome'] in RebootChange.problem_outcomes]
    text = rolling_summary_sentence(RebootChange, report['summary'], problems)
    assert text.startswith('Rolling reboot r1: 3 of 5 phones rebooted, 1 failed, 1 unreachable.')
    assert 'Problem phones: dark (never_up), gone (unreachable).' in text
    many = [('gs%04d' % number, 'unregistered') for number in range(25)]
    assert rolling_summary_sentence(RebootChange, report['summary'], many).endswith(
        'gs0009 (unregistered) and 15 more.')
