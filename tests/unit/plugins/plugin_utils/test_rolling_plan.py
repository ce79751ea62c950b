# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling-reboot policy: batch sizes, plans, windows, duplicates, run ids, the fail limit."""

import datetime

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import rolling_plan as rolling
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import duration_text


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


def test_duplicate_addresses_keep_the_first_name():
    targets = [Target('gs1', '10.0.0.1', 80), Target('alias1', '10.0.0.1', 80), Target('gs2', '10.0.0.1', 8080),
               Target('ALIAS', '10.0.0.1'.upper(), 80), Target('broken', None, None), Target('broken2', None, None)]
    assert rolling.first_of_duplicates(targets) == {'alias1': 'gs1', 'ALIAS': 'gs1'}


class Target(object):
    def __init__(self, name, host, port):
        self.name, self.host, self.port = name, host, port


def test_default_run_id_is_the_date_the_window_opened():
    assert rolling.default_run_id(None, datetime.datetime(2026, 1, 5, 14, 0)) == '2026-01-05'
    night = rolling.Window('22:00-02:00')
    assert rolling.default_run_id(night, datetime.datetime(2026, 1, 5, 23, 0)) == '2026-01-05'
    assert rolling.default_run_id(night, datetime.datetime(2026, 1, 6, 1, 30)) == '2026-01-05'
    assert rolling.default_run_id(rolling.Window('01:00-05:00'), datetime.datetime(2026, 1, 6, 1, 30)) == '2026-01-06'
    assert rolling.check_run_id(rolling.default_run_id()) == rolling.default_run_id()


@pytest.mark.parametrize('failed, attempted, limit, exceeded', [
    (0, 0, 0, False), (0, 10, 0, False), (1, 10, 0, True), (1, 10, 10, False), (2, 10, 10, True),
    (1, 3, 33.4, False), (1, 3, 33.3, True), (5, 5, 100, False),
])
def test_fail_limit(failed, attempted, limit, exceeded):
    assert rolling.fail_limit_exceeded(failed, attempted, limit) is exceeded


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (59.4, '59s'), (60, '1m00s'), (185, '3m05s'), (7440, '2h04m'), (-3, '0s')])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


@pytest.mark.parametrize('run_id', ['night-1\n', 'night-1\r\n', '\nnight-1', 'night 1', 'a' * 129, '', None, 7])
def test_a_run_id_is_exactly_a_file_name_part(run_id):
    """A run id names the ledger file: a trailing newline ("$" would have let it through) is refused too."""
    with pytest.raises(ValueError) as caught:
        rolling.check_run_id(run_id)
    assert 'run id must be 1-128 letters' in str(caught.value)


def test_a_good_run_id_is_kept_as_it_is():
    assert rolling.check_run_id('phones-2025-w02') == 'phones-2025-w02' and rolling.check_run_id('a' * 128) == 'a' * 128
