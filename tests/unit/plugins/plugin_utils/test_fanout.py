# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet fan-out against fixture phones (no network)."""

import json
import threading
import time

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, fan_out
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fleet_phones import (
    ACCOUNT_OK, healthy, make_targets,
)


def test_results_come_in_input_order_and_concurrency_is_bounded():
    active = {'now': 0, 'peak': 0}
    lock = threading.Lock()

    def work(client, target):
        with lock:
            active['now'] += 1
            active['peak'] = max(active['peak'], active['now'])
        time.sleep(0.01 if target.name.endswith(('1', '3', '7')) else 0.002)
        with lock:
            active['now'] -= 1
        return {'seen': target.name}

    targets = make_targets(60)
    results = fan_out(targets, work, concurrency=7, transport_factory=lambda target: FixturePhone())
    assert [result['name'] for result in results] == [target.name for target in targets]
    assert [result['data']['seen'] for result in results] == [target.name for target in targets]
    assert all(result['ok'] and result['error_class'] is None and result['reachable'] for result in results)
    assert 1 < active['peak'] <= 7


def test_one_client_per_phone_and_sessions_are_closed():
    phones = dict(('gs%04d' % number, healthy()) for number in range(1, 6))
    targets = [FleetTarget(name, CTIConnection('10.0.0.%d' % index, passcode=PASSCODE, name=name)) for index, name in enumerate(sorted(phones), 1)]
    fan_out(targets, audit.audit_registration(), concurrency=3, transport_factory=lambda target: phones[target.name])
    for phone in phones.values():
        assert phone.functions() == ['api-get_accounts', 'api-get_phone_status', 'model.define.js']
        assert phone.closed


def test_empty_fleet_and_bad_arguments():
    assert fan_out([], lambda client, target: {}) == []
    with pytest.raises(ValueError):
        fan_out(make_targets(1), lambda client, target: {}, concurrency=0)
    with pytest.raises(ValueError):
        fan_out(make_targets(1), lambda client, target: {}, deadline=-1)


def test_cti_error_becomes_class_and_sentence():
    def work(client, target):
        raise CTIError(target.label, 'forbidden', 'CTI refused the request (HTTP 403).', status=403)

    result = fan_out(make_targets(1), work, transport_factory=lambda target: FixturePhone())[0]
    assert result['ok'] is False
    assert result['error_class'] == 'forbidden'
    assert result['error'] == 'CTI refused the request (HTTP 403).'
    assert 'Allowed IP List' in result['hint']
    assert result['message'].startswith('gs0001 (10.1.4.1): CTI refused the request (HTTP 403).')
    assert result['http_status'] == 403
    assert result['reachable'] is True


def test_unexpected_exception_is_one_line_without_traceback_or_passcode():
    def work(client, target):
        raise KeyError('body with %s inside' % PASSCODE)

    result = fan_out(make_targets(1), work, transport_factory=lambda target: FixturePhone())[0]
    assert result['error_class'] == 'error'
    assert result['error'].startswith('unexpected KeyError')
    assert PASSCODE not in json.dumps(result)
    assert 'Traceback' not in json.dumps(result)
    assert '\n' not in result['message']


def test_a_short_passcode_leaves_names_addresses_and_phone_data_alone():
    # GRP26xx user passwords default to 123: starring it out of "gs0123" would mangle the report and show the passcode.
    target = FleetTarget('gs0123', CTIConnection('10.1.23.123', passcode='123', name='gs0123'))
    phone = healthy([dict(ACCOUNT_OK, sip_id='1123')], passcode='123')
    record = audit.registration_record(fan_out([target], audit.audit_registration(), transport_factory=lambda target: phone)[0], target)
    assert (record['name'], record['host'], record['accounts'][0]['sip_id']) == ('gs0123', '10.1.23.123', '1123')
    assert record['status'] == 'registered'


def test_passcode_is_scrubbed_from_the_sentences_of_a_failure():
    def work(client, target):
        raise CTIError(target.label, 'error', 'the phone said passcode=%s and %s.' % (PASSCODE, PASSCODE), hint='not %s' % PASSCODE)

    result = fan_out(make_targets(1), work, transport_factory=lambda target: FixturePhone())[0]
    assert PASSCODE not in json.dumps(result)
    assert result['name'] == 'gs0001'
    assert result['message'].startswith('gs0001 (10.1.4.1): the phone said passcode=********')


def test_target_with_a_problem_is_not_contacted():
    called = []
    target = FleetTarget('gs0009', variables={'ansible_host': '10.1.4.9'}, problem='its connection variables are unusable: port is not a number')
    result = fan_out([target], lambda client, target: called.append(target) or {})[0]
    assert called == []
    assert result['error_class'] == 'error'
    assert result['host'] == '10.1.4.9'
    assert 'port is not a number' in result['message']
    assert result['reachable'] is None
    with pytest.raises(ValueError):
        FleetTarget('gs0010')


def test_deadline_marks_unstarted_and_unfinished_phones():
    targets = make_targets(10)

    release = threading.Event()

    def work(client, target):
        release.wait(10)  # in progress until the assertions are done
        return {}

    started = time.monotonic()
    try:
        results = fan_out(targets, work, concurrency=2, deadline=0.15, transport_factory=lambda target: FixturePhone())
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 5, 'fan_out must return at the deadline, not wait for the phones in progress'
    assert [result['error_class'] for result in results[:2]] == ['interrupted', 'interrupted']
    assert all(result['error_class'] == 'not_attempted' for result in results[2:])
    assert 'deadline of 0.15 s' in results[5]['error']
    assert results[5]['reachable'] is None


def test_deadline_not_reached_changes_nothing():
    results = fan_out(make_targets(5), lambda client, target: {'x': 1}, concurrency=5, deadline=30,
                      transport_factory=lambda target: FixturePhone())
    assert all(result['ok'] for result in results)


def test_client_options_reach_every_client():
    seen = []

    def work(client, target):
        seen.append(client.connection.name)
        return {}

    fan_out(make_targets(2), work, transport_factory=lambda target: FixturePhone(), client_options={})
    assert sorted(seen) == ['gs0001', 'gs0002']
