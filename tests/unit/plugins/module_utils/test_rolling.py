# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch sizes, plans, windows and the ledger of the rolling reboot."""

import datetime
import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import rolling


@pytest.mark.parametrize('value, total, expected', [(20, 200, 20), ('20', 200, 20), ('10%', 200, 20), ('10%', 5, 1),
                                                    ('33%', 10, 4), ('100%', 7, 7), (500, 10, 500)])
def test_batch_size(value, total, expected):
    assert rolling.parse_batch_size(value, total) == expected


@pytest.mark.parametrize('value', [0, -1, '0%', '101%', 'ten', '', '5.5'])
def test_bad_batch_size_names_the_variable(value):
    with pytest.raises(ValueError) as caught:
        rolling.parse_batch_size(value, 10, name='rolling_reboot_batch_size')
    assert 'rolling_reboot_batch_size' in str(caught.value)


def test_plan_with_and_without_canary():
    names = ['p%d' % n for n in range(7)]
    assert rolling.plan_batches(names, 3) == [['p0', 'p1', 'p2'], ['p3', 'p4', 'p5'], ['p6']]
    assert rolling.plan_batches(names, 3, canary=1) == [['p0'], ['p1', 'p2', 'p3'], ['p4', 'p5', 'p6']]
    assert rolling.plan_batches([], 3) == []


@pytest.mark.parametrize('window, hour, minute, is_open', [
    ('01:00-05:00', 0, 59, False), ('01:00-05:00', 1, 0, True), ('01:00-05:00', 4, 59, True), ('01:00-05:00', 5, 0, False),
    ('22:30-02:00', 23, 0, True), ('22:30-02:00', 1, 59, True), ('22:30-02:00', 12, 0, False), ('22:30-02:00', 22, 29, False),
])
def test_window(window, hour, minute, is_open):
    assert rolling.Window(window).is_open(datetime.datetime(2026, 11, 25, hour, minute)) is is_open


@pytest.mark.parametrize('text', ['1-5', '25:00-01:00', '01:00-01:00', '', None, '01:00 to 05:00'])
def test_bad_window(text):
    with pytest.raises(ValueError):
        rolling.Window(text)


def test_ledger_round_trip_and_resume(tmp_path):
    ledger = rolling.Ledger(str(tmp_path / 'state'), 'night-1')
    assert not ledger.resumed
    ledger.update('gs1', state=rolling.LEDGER_SENDING, batch=1)
    ledger.save()
    again = rolling.Ledger(str(tmp_path / 'state'), 'night-1')
    assert again.resumed
    assert again.state('gs1') == 'sending'
    assert again.state('gs2') is None
    assert json.loads((tmp_path / 'state' / 'night-1.json').read_text())['phones']['gs1']['batch'] == 1
    assert [p.name for p in (tmp_path / 'state').iterdir()] == ['night-1.json'], 'no temporary files left behind'


def test_ledger_rejects_bad_run_ids_and_files(tmp_path):
    for run_id in ('', '../etc', 'a/b', '.hidden'):
        with pytest.raises(ValueError):
            rolling.Ledger(str(tmp_path), run_id)
    (tmp_path / 'broken.json').write_text('{not json')
    with pytest.raises(ValueError) as caught:
        rolling.Ledger(str(tmp_path), 'broken')
    assert 'broken.json' in str(caught.value)
