# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot engine: the check of a phone whose command went out before an interruption (ResumedWatch),
and the whole run against a fake fleet on a fake clock."""

import datetime
import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import Observation, WatchOptions
from ansible_collections.phonefleet.grandstream.plugins.modules import fleet_reboot
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import ResumedWatch
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import Window
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import ROLLING_REPORTS
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import (
    Crash, FakeClock as FleetClock, FakeFleet, make_run, outcomes, reasons,
)


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeConnection(object):
    label = 'gs1 (127.0.0.1:8080)'


def scripted_looks(observations):
    """What the phone shows at each look, port check or poll alike (the last one repeats)."""
    observations = list(observations)

    def look():
        return observations.pop(0) if len(observations) > 1 else observations[0]
    return look


def resumed(observations, sent_ago, clock=None, expected=(1,), down_after=None, sent=True):
    clock = clock or FakeClock()
    options = WatchOptions(down_timeout=10, reboot_timeout=60, registration_timeout=20, poll_interval=2, connect_timeout=1)
    look = scripted_looks(observations)
    return ResumedWatch(FakeConnection(), list(expected), options, sent_ago=sent_ago, down_after=down_after, sent=sent,
                        clock=clock, probe=look, port_check=lambda: look().reachable), clock


def drive(watch, clock, limit=200):
    for dummy in range(limit):
        if watch.done:
            return watch
        clock.now = max(clock.now, watch.due_at)
        watch.step()
    raise AssertionError('the watch never finished')


def test_resumed_phone_seen_down_before_the_interruption_is_verified_when_back_and_registered():
    watch, clock = resumed([Observation(True, [1])], sent_ago=30, down_after=1.5)
    assert watch.due_at <= clock.now, 'the first look is due at once'
    drive(watch, clock)
    assert watch.done and watch.ok and watch.checks == 1 and watch.polls == 1 and watch.seen_down_before
    assert watch.timings['down_after'] == 1.5 and watch.timings['registered_after'] == 30.0


def test_resumed_phone_seen_down_and_back_unregistered_fails_after_registration_timeout():
    watch, clock = resumed([Observation(True, [])], sent_ago=30, down_after=1.5)
    drive(watch, clock)
    assert not watch.ok and watch.reason == 'unregistered'


def test_resumed_phone_seen_down_and_still_down_after_reboot_timeout_fails_at_once():
    watch, clock = resumed([Observation(False)], sent_ago=3600, down_after=1.0)
    watch.step()
    assert watch.done and not watch.ok and watch.reason == 'never_up'
    assert watch.error.startswith('gs1 (127.0.0.1:8080): ')


def test_resumed_phone_up_and_registered_long_after_the_command_is_unverified_at_once():
    """Nobody saw it go down: it may have restarted during the interruption, or never. It is not a reboot."""
    watch, clock = resumed([Observation(True, [1])], sent_ago=30)
    watch.step()
    assert watch.done and not watch.ok and watch.reason == 'unverified' and watch.polls == 1
    assert 'went out before the run was interrupted' in watch.error
    assert 'its accounts are registered' in watch.error and 'nobody saw it restart' in watch.error
    assert 'new run id' in watch.error


@pytest.mark.parametrize('seen, expected, sent, text', [
    (Observation(True, []), (1,), True, 'account 1 is not registered'),
    (Observation(True, [1]), (1, 2), True, 'account 2 is not registered'),
    (Observation(True, []), (1, 2), True, 'accounts 1, 2 are not registered'),
    (Observation(True), (1,), True, 'its registration could not be read'),
    (Observation(True, []), (), True, 'no account was registered before the reboot'),
    (Observation(True, [1]), (1,), False, 'was being sent (it may have gone out)'),
])
def test_the_unverified_sentence_says_what_the_phone_answers(seen, expected, sent, text):
    watch, clock = resumed([seen], sent_ago=30, expected=expected, sent=sent)
    watch.step()
    assert watch.reason == 'unverified' and text in watch.error, watch.error


def test_resumed_phone_still_saving_is_followed_through_its_reboot():
    watch, clock = resumed([Observation(True, [1]), Observation(False), Observation(True, []),
                            Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert watch.ok and not watch.seen_down_before
    assert watch.timings['down_after'] is not None and watch.timings['registered_after'] is not None


def test_resumed_phone_up_until_down_timeout_after_the_command_is_unverified():
    watch, clock = resumed([Observation(True, [1])], sent_ago=1)
    drive(watch, clock)
    assert not watch.ok and watch.reason == 'unverified'
    assert clock.now - watch.started >= 10, 'watched until down_timeout after the command'


def test_resumed_phone_down_comes_back_and_registers():
    watch, clock = resumed([Observation(False), Observation(False), Observation(True, [1])], sent_ago=2)
    drive(watch, clock)
    assert watch.ok and watch.timings['down_after'] == 2.0


def test_resumed_phone_not_seen_down_and_down_after_reboot_timeout_fails_never_up():
    watch, clock = resumed([Observation(False)], sent_ago=3600)
    watch.step()
    assert watch.done and not watch.ok and watch.reason == 'never_up'


def test_the_module_offers_exactly_the_registered_formats():
    assert list(fleet_reboot.REPORT_FORMATS) == list(ROLLING_REPORTS)


# -- the whole run against a fake fleet on a fake clock ------------------------------------------


def test_every_phone_is_rebooted_once_in_batches_and_proven(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(10)
    lines = []
    run = make_run(fleet, tmp_path, settings={'batch_size': 3}, lines=lines)
    report = run.run()
    assert set(outcomes(report).values()) == {'rebooted'}
    assert fleet.commands() == dict((name, 1) for name in fleet.phones)
    assert report['summary']['batches_run'] == 4 and report['summary']['batch_size'] == 3
    assert [phone['batch'] for phone in report['phones']] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert fleet.max_rebooting <= 3, 'never more than one batch rebooting at once'
    # every phone was seen down, back and registered, in that order
    for phone in report['phones']:
        timings = phone['timings']
        assert 0 < timings['down_after'] < timings['up_after'] <= timings['registered_after'], phone
    # a batch starts only when the previous one is registered again
    sent = sorted((times[0], name) for name, times in ((name, phone.commands) for name, phone in fleet.phones.items()))
    assert sent[3][0] >= sent[0][0] + 0.5 + 3.5 + 1.0
    assert run.changed is True
    assert lines[0].startswith('Rolling reboot r1: 10 phones, 10 to reboot in 4 batches of up to 3')
    # one line ends each batch (progress lines inside a batch come before it)
    assert sum(1 for line in lines if line.startswith('Batch ') and ' sent, ' in line) == 4
    ledger = json.loads((tmp_path / 'r1.json').read_text())
    assert {entry['state'] for entry in ledger['phones'].values()} == {'rebooted'}


def test_a_percent_batch_size_counts_every_phone_of_the_run(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(20)
    report = make_run(fleet, tmp_path, settings={'batch_size': '25%'}).run()
    assert report['summary']['batch_size'] == 5 and report['summary']['batches_run'] == 4


def test_check_mode_sends_nothing_and_writes_no_ledger(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(4)
    report = make_run(fleet, tmp_path, check_mode=True, settings={'batch_size': 2}).run()
    assert set(outcomes(report).values()) == {'not_attempted'} and set(reasons(report).values()) == {'check_mode'}
    assert sum(fleet.commands().values()) == 0
    assert not (tmp_path / 'r1.json').exists()
    assert report['summary']['check_mode'] is True and report['plan']['batches'] == 2


def test_read_failures_are_settled_before_any_command(tmp_path):
    fleet = FakeFleet()
    fleet.add('ok')
    fleet.add('badpw', faults=['wrong_passcode'])
    fleet.add('gone', faults=['unreachable'])
    twin = fleet.add('twin')
    twin.host = fleet.phones['ok'].host  # the same phone under two names
    report = make_run(fleet, tmp_path).run()
    assert outcomes(report) == {'ok': 'rebooted', 'badpw': 'auth_failed', 'gone': 'unreachable', 'twin': 'failed'}
    assert reasons(report) == {'ok': None, 'badpw': 'auth_failed', 'gone': 'unreachable', 'twin': 'duplicate'}
    assert fleet.commands() == {'ok': 1, 'badpw': 0, 'gone': 0, 'twin': 0}
    assert report['summary']['preflight_failed'] == 1  # twin: failed before any command (the others have own outcomes)


def test_watch_failures_are_failed_with_their_reason(tmp_path):
    fleet = FakeFleet()
    fleet.add('stays', faults=['never_down'])
    fleet.add('dark', faults=['never_up'])
    fleet.add('noreg', faults=['back_unregistered'])
    fleet.add('refuses', faults=['refuse'])
    report = make_run(fleet, tmp_path, settings={'batch_size': 4}).run()
    assert set(outcomes(report).values()) == {'failed'}
    assert reasons(report) == {'stays': 'never_down', 'dark': 'never_up', 'noreg': 'unregistered', 'refuses': 'rejected'}
    ledger = json.loads((tmp_path / 'r1.json').read_text())['phones']
    refused = [entry for entry in ledger.values() if entry['name'] == 'refuses'][0]
    assert refused['state'] == 'failed' and refused['sent'] is False
    # a failed check is final for the run id: a re-run sends nothing again
    again = make_run(fleet, tmp_path).run()
    assert set(outcomes(again).values()) == {'failed'} and fleet.commands() == {'stays': 1, 'dark': 1, 'noreg': 1, 'refuses': 0}


@pytest.mark.parametrize('policy, outcome, commands', [('skip', 'skipped_busy', 0), ('force', 'rebooted', 1)])
def test_busy_policy_skip_and_force(tmp_path, policy, outcome, commands):
    fleet = FakeFleet()
    fleet.add('idle')
    fleet.add('talking', busy_until=10000.0)
    report = make_run(fleet, tmp_path, options={'busy_policy': policy}).run()
    assert outcomes(report) == {'idle': 'rebooted', 'talking': outcome}
    assert fleet.commands()['talking'] == commands


def test_busy_policy_wait_reboots_the_phone_after_its_call_last(tmp_path):
    fleet = FakeFleet()
    talking = fleet.add('talking', busy_until=12.0)
    fleet.add_many(3)
    report = make_run(fleet, tmp_path, settings={'batch_size': 2}).run()
    assert set(outcomes(report).values()) == {'rebooted'}
    assert talking.commands[0] >= 12.0, 'not while the call lasted'
    assert max(phone.commands[0] for phone in fleet.phones.values()) == talking.commands[0], 'moved to the end'
    record = [phone for phone in report['phones'] if phone['name'] == 'talking'][0]
    assert record['timings']['busy_wait'] >= 12.0


def test_busy_policy_wait_gives_up_after_busy_timeout(tmp_path):
    fleet = FakeFleet()
    fleet.add('talking', busy_until=10000.0)
    fleet.add('idle')
    report = make_run(fleet, tmp_path, options={'busy_timeout': 30.0}).run()
    assert outcomes(report) == {'talking': 'skipped_busy', 'idle': 'rebooted'}
    assert fleet.clock.now >= 30.0 and fleet.commands()['talking'] == 0


def test_a_call_starting_after_the_preflight_is_seen_by_the_last_look(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(2)
    fleet.add('late', call_after_line_reads=2)  # idle at the preflight and when its batch is filled, then a call
    report = make_run(fleet, tmp_path, settings={'batch_size': 1}, options={'busy_policy': 'skip'}).run()
    assert outcomes(report)['late'] == 'skipped_busy' and fleet.commands()['late'] == 0
    assert fleet.phones['late'].line_reads == 3, 'the last look right before the command'


def test_a_failed_canary_stops_the_run(tmp_path):
    fleet = FakeFleet()
    fleet.add('canary', faults=['never_down'])
    fleet.add_many(5)
    report = make_run(fleet, tmp_path, settings={'canary': 1, 'batch_size': 2}).run()
    assert report['summary']['stopped_reason'] == 'canary'
    assert outcomes(report)['canary'] == 'failed'
    assert set(reasons(report)[name] for name in fleet.phones if name != 'canary') == {'canary'}
    assert sum(fleet.commands().values()) == 1


def test_a_passed_canary_is_remembered_by_the_run_id(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(3)
    first = make_run(fleet, tmp_path, settings={'canary': 1, 'batch_size': 2}, names=['gs001', 'gs002'])
    assert first.run()['summary']['canary'] == 1
    assert json.loads((tmp_path / 'r1.json').read_text())['canary_passed'] is True
    second = make_run(fleet, tmp_path, settings={'canary': 1, 'batch_size': 2})
    report = second.run()
    assert report['summary']['canary'] == 0, 'no second canary in the same run'
    assert outcomes(report) == {'gs001': 'already_done', 'gs002': 'already_done', 'gs003': 'rebooted'}


def test_too_many_failures_stop_the_run(tmp_path):
    fleet = FakeFleet()
    fleet.add('bad1', faults=['never_up'])
    fleet.add('bad2', faults=['back_unregistered'])
    fleet.add_many(6)
    report = make_run(fleet, tmp_path, settings={'batch_size': 4, 'max_fail_percent': 25.0}).run()
    summary = report['summary']
    assert summary['stopped_reason'] == 'max_fail_percent' and summary['failed'] == 2
    assert summary['attempted'] == 4 and summary['failed_percent'] == 50.0
    assert summary['not_attempted'] == 4 and set(reasons(report)[name] for name in list(fleet.phones)[4:]) == {'max_fail'}


def test_a_closing_window_stops_before_the_next_batch(tmp_path):
    fleet = FakeFleet(FleetClock(start_local=datetime.datetime(2026, 12, 3, 4, 59, 55)))
    fleet.add_many(6)
    report = make_run(fleet, tmp_path, settings={'batch_size': 2}, window=Window('01:00-05:00')).run()
    summary = report['summary']
    assert summary['stopped_reason'] == 'window' and summary['rebooted'] == 2 and summary['not_attempted'] == 4
    assert 'rolling_reboot_run_id=r1' in summary['stop_message']
    # the next night, the same run id picks up where it stopped
    fleet.clock.local_start = datetime.datetime(2026, 12, 4, 1, 0, 0) - datetime.timedelta(seconds=fleet.clock.now)
    again = make_run(fleet, tmp_path, settings={'batch_size': 2}, window=Window('01:00-05:00')).run()
    assert again['summary']['already_done'] == 2 and again['summary']['rebooted'] == 4
    assert fleet.commands() == dict((name, 1) for name in fleet.phones)


# -- resume after ansible-playbook was killed at each ledger state --------------------------------

def crash_at_command(fleet, count=1):
    """Kill the run when the count-th REBOOT request arrives, before the phone gets it: the ledger says sending."""
    seen = []

    def hook(phone):
        seen.append(phone.name)
        if len(seen) == count:
            raise Crash()
    fleet.before_command = hook


def crash_when(fleet, condition):
    def hook(clock):
        if condition():
            raise Crash()
    fleet.clock.on_sleep = hook


def interrupted_run(tmp_path, fleet, **kwargs):
    with pytest.raises(Crash):
        make_run(fleet, tmp_path, **kwargs).run()
    fleet.before_command = None
    fleet.clock.on_sleep = None
    return json.loads((tmp_path / 'r1.json').read_text())['phones']


def ledger_state(entries, name):
    return [entry for entry in entries.values() if entry['name'] == name][0]


def test_resume_after_a_crash_while_sending_never_sends_twice(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(2)
    crash_at_command(fleet)
    entries = interrupted_run(tmp_path, fleet, settings={'batch_size': 2})
    assert ledger_state(entries, 'gs001')['state'] == 'sending'
    fleet.clock.advance(120)
    report = make_run(fleet, tmp_path, settings={'batch_size': 2}).run()
    # gs001's command may have gone out: it is checked, never sent again; nobody saw it restart, so unverified
    assert outcomes(report) == {'gs001': 'failed', 'gs002': 'rebooted'}
    assert reasons(report)['gs001'] == 'unverified'
    assert fleet.commands() == {'gs001': 0, 'gs002': 1}


def test_resume_after_a_crash_before_the_phone_was_seen_down(tmp_path):
    fleet = FakeFleet()
    phone = fleet.add('gs001')
    crash_when(fleet, lambda: bool(phone.commands))  # right after the command: sent, not yet seen down
    entries = interrupted_run(tmp_path, fleet)
    assert ledger_state(entries, 'gs001')['state'] == 'sent' and 'seen_down' not in ledger_state(entries, 'gs001')
    fleet.clock.advance(1.0)  # the re-run starts while the phone is down
    report = make_run(fleet, tmp_path).run()
    assert outcomes(report) == {'gs001': 'rebooted'} and fleet.commands() == {'gs001': 1}
    assert 'found down' in report['phones'][0]['note']


def test_resume_after_a_crash_once_the_phone_was_seen_down(tmp_path):
    fleet = FakeFleet()
    phone = fleet.add('gs001')
    crash_when(fleet, lambda: phone.commands and phone.power() == 'booting')
    entries = interrupted_run(tmp_path, fleet)
    assert ledger_state(entries, 'gs001')['state'] == 'sent' and ledger_state(entries, 'gs001')['seen_down'] > 0
    fleet.clock.advance(300)  # long after: it is back and registered, and its restart was seen
    report = make_run(fleet, tmp_path).run()
    assert outcomes(report) == {'gs001': 'rebooted'} and fleet.commands() == {'gs001': 1}
    assert 'seen going down before it' in report['phones'][0]['note']


def test_resume_after_a_crash_between_batches(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(4)
    crash_at_command(fleet, count=3)  # the first command of the second batch
    entries = interrupted_run(tmp_path, fleet, settings={'batch_size': 2})
    assert [ledger_state(entries, name)['state'] for name in ('gs001', 'gs002', 'gs003')] == ['rebooted', 'rebooted', 'sending']
    fleet.clock.advance(120)
    report = make_run(fleet, tmp_path, settings={'batch_size': 2}).run()
    assert outcomes(report) == {'gs001': 'already_done', 'gs002': 'already_done', 'gs003': 'failed', 'gs004': 'rebooted'}
    assert fleet.commands() == {'gs001': 1, 'gs002': 1, 'gs003': 0, 'gs004': 1}
    assert report['summary']['resumed'] is True
    # batches go on from where the ledger stopped
    assert [phone['batch'] for phone in report['phones']] == [1, 1, 2, 3]
