# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Change interface: a second, tiny change runs on the same engine without touching it (its proof needs one step
more than a reboot's, it skips phones that need no change, a failure of its own has its own outcome); a run id never
resumes under another kind; the proof chain and its read step; the reboot's outcome of a finished watch."""

import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, UNREACHABLE, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import Observation, RebootWatch, WatchOptions
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_proof import ChainProof, ReadCheck
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import Change, Preflight, Skip
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import Ledger
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import rolling_reports
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import (
    Crash, FakeFleet, make_run, outcomes, reasons, task_args,
)

TARGET = 'new'


class MarkerPreflight(Preflight):
    __slots__ = ('registered', 'marker')

    def __init__(self, in_use, registered, marker):
        super(MarkerPreflight, self).__init__(in_use)
        self.registered, self.marker = registered, marker


class MarkerChange(Change):
    """Puts a marker on each phone (what a firmware rollout does with a version): the phone takes it when it reboots.
    Proven by the reboot's watch and then one more step, the marker read back; a phone that already has it is never
    touched; a phone that came back with its old marker is ``kept_old_marker``."""

    kind = 'marker'
    title = 'Marker rollout'
    verb = 'mark'
    report_name = 'marker_rollout'
    lock_name = 'marker_rollout.lock'
    role_prefix = 'marker_rollout_'
    done = 'marked'
    done_earlier = 'already_marked'
    own_outcomes = ('already_current', 'kept_old_marker')
    own_problem_outcomes = ('kept_old_marker',)
    failure_outcomes = {'old_marker': 'kept_old_marker'}
    proof_steps = RebootChange.proof_steps + (('marked', 'marked_after'),)
    batch_bound = 'reboot_timeout + registration_timeout + 10 s'

    def __init__(self, fleet, reboot):
        self.fleet = fleet
        self.reboot = reboot  # the reboot's pieces: its preflight reads and its watch
        self.applied = []

    def preflight(self, client):
        facts = self.reboot.preflight(client)
        return MarkerPreflight(facts.in_use, facts.registered, self.fleet.phones[client.connection.name].marker)

    def skip_reason(self, preflight):
        if preflight.marker == TARGET:
            return Skip('already_current', 'current', 'it already has the marker %s.' % TARGET)
        return None

    def ledger_fields(self, preflight):
        return {'expected': preflight.registered, 'marker_before': preflight.marker}

    def apply(self, client, preflight, clock):
        self.applied.append(client.connection.name)
        self.fleet.phones[client.connection.name].next_marker = TARGET
        return ChainProof([self.reboot.apply(client, preflight, clock), self._marker_check(client.connection, clock)])

    def resume(self, target, entry, clock):
        return ChainProof([self.reboot.resume(target, entry, clock), self._marker_check(target.connection, clock)])

    def _marker_check(self, connection, clock):
        phone = self.fleet.phones[connection.name]
        return ReadCheck(connection.label, 'marked_after', read=lambda: phone.marker, accept=lambda value: value == TARGET,
                         describe=lambda value: 'the phone came back with the marker %s, not %s' % (value, TARGET),
                         reason='old_marker', timeout=10, interval=1, clock=clock.monotonic)

    def max_seconds(self):
        return self.reboot.max_seconds() + 10


def marker_run(fleet, tmp_path, **kwargs):
    change = MarkerChange(fleet, RebootChange.from_args(task_args(), probes=fleet.watch_probes))
    return make_run(fleet, tmp_path, change=change, **kwargs), change


def test_a_second_change_with_an_extra_proof_step_runs_on_the_same_engine(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(4)
    fleet.add('current', marker=TARGET)
    fleet.add('stubborn', faults=['keeps_old_marker'])
    lines = []
    run, change = marker_run(fleet, tmp_path, settings={'batch_size': 3}, lines=lines)
    report = run.run()
    assert outcomes(report) == {'gs001': 'marked', 'gs002': 'marked', 'gs003': 'marked', 'gs004': 'marked',
                                'current': 'already_current', 'stubborn': 'kept_old_marker'}
    assert reasons(report)['current'] == 'current' and reasons(report)['stubborn'] == 'old_marker'
    # a phone that needs no change is never touched: no command, not even a last look
    assert 'current' not in change.applied and fleet.commands()['current'] == 0
    assert fleet.phones['current'].line_reads == 1, 'read once by the preflight, never again'
    # the extra step of the proof: the marker read back after the phone registered
    for phone in report['phones']:
        if phone['outcome'] == 'marked':
            assert phone['timings']['marked_after'] >= phone['timings']['registered_after'] > 0, phone
    stubborn = [phone for phone in report['phones'] if phone['name'] == 'stubborn'][0]
    assert 'came back with the marker old, not new' in stubborn['error'] and stubborn['error'].startswith('stubborn (')
    summary = report['summary']
    assert (summary['marked'], summary['already_current'], summary['kept_old_marker'], summary['kind']) == (4, 1, 1, 'marker')
    assert 'rebooted' not in summary, 'the engine has no reboot words of its own'
    assert lines[0].startswith('Marker rollout r1: 6 phones, 5 to mark in 2 batches of up to 3')
    assert any('marked' in line and line.startswith('Batch 1 of 2: of 3 phones') for line in lines), lines
    assert any(line.startswith('Batch 2 of 2: kept_old_marker (old_marker): stubborn (') for line in lines), lines
    ledger = json.loads((tmp_path / 'r1.json').read_text())
    assert ledger['kind'] == 'marker'
    states = dict((entry['name'], entry['state']) for entry in ledger['phones'].values())
    assert states == {'gs001': 'marked', 'gs002': 'marked', 'gs003': 'marked', 'gs004': 'marked', 'stubborn': 'failed'}
    assert [entry['marker_before'] for entry in ledger['phones'].values()] == ['old'] * 5
    # the report files of the change are its own
    files = rolling_reports(MarkerChange)
    assert files['json'][0] == 'marker_rollout.json' and 'marked_after' in files['csv'][1](report).splitlines()[0]

    # resumed: done phones are already_marked, the failure is final for the run id (and keeps its own outcome),
    # nothing is sent again
    again, dummy = marker_run(fleet, tmp_path, settings={'batch_size': 3})
    resumed = again.run()
    assert set(outcomes(resumed).values()) == {'already_marked', 'already_current', 'kept_old_marker'}
    assert outcomes(resumed)['stubborn'] == 'kept_old_marker' and reasons(resumed)['stubborn'] == 'old_marker'
    assert sum(fleet.commands().values()) == 5


def test_a_change_interrupted_after_sending_is_proven_by_its_chain_on_resume(tmp_path):
    fleet = FakeFleet()
    phone = fleet.add('gs001')

    def crash_when_down(clock):
        if phone.commands and phone.power() == 'down':
            raise Crash()
    fleet.clock.on_sleep = crash_when_down
    run, dummy = marker_run(fleet, tmp_path)
    with pytest.raises(Crash):
        run.run()
    fleet.clock.on_sleep = None
    fleet.clock.advance(100)
    again, change = marker_run(fleet, tmp_path)
    report = again.run()
    assert outcomes(report) == {'gs001': 'marked'} and fleet.commands() == {'gs001': 1} and change.applied == []
    assert 'checked after the interruption' not in (report['phones'][0]['note'] or ''), 'the reboot note is the reboot\'s'


def test_a_run_id_never_resumes_under_another_kind(tmp_path):
    fleet = FakeFleet()
    fleet.add_many(2)
    make_run(fleet, tmp_path, names=['gs001']).run()
    with pytest.raises(ValueError) as caught:
        marker_run(fleet, tmp_path)
    text = str(caught.value)
    assert 'another kind of change (reboot), not a marker rollout' in text and 'never resumes under another kind' in text
    assert str(tmp_path / 'r1.json') in text
    marker_run(fleet, tmp_path, run_id='m1')[0].run()
    with pytest.raises(ValueError) as caught:
        make_run(fleet, tmp_path, run_id='m1')
    assert 'another kind of change (marker), not a rolling reboot' in str(caught.value)
    # r1 rebooted gs001, m1 marked both; the refused resumes sent nothing
    assert fleet.commands() == {'gs001': 2, 'gs002': 1}


def test_a_ledger_that_records_no_kind_is_a_reboot_ledger(tmp_path):
    """Ledgers written before kinds were recorded are the rolling reboot's: it resumes them, another kind refuses them."""
    entry = {'name': 'gs1', 'host': '10.0.0.1', 'port': 80, 'state': 'rebooted', 'batch': 1}
    (tmp_path / 'r1.json').write_text(json.dumps({'version': 2, 'run_id': 'r1', 'phones': {'10.0.0.1:80': entry}}))
    assert Ledger(str(tmp_path), 'r1', RebootChange.ledger_kind).resumed
    with pytest.raises(ValueError) as caught:
        Ledger(str(tmp_path), 'r1', MarkerChange.ledger_kind)
    assert 'none recorded' in str(caught.value) and 'never resumes under another kind' in str(caught.value)


def test_outcome_words_belong_to_the_change():
    assert RebootChange.outcomes == ('rebooted', 'already_done', 'skipped_busy', 'failed', 'unreachable', 'auth_failed',
                                     'not_attempted')
    assert RebootChange.problem_outcomes == ('failed', 'unreachable', 'auth_failed')
    assert MarkerChange.outcomes == ('marked', 'already_marked', 'already_current', 'kept_old_marker', 'skipped_busy',
                                     'failed', 'unreachable', 'auth_failed', 'not_attempted')
    assert MarkerChange.problem_outcomes[-1] == 'kept_old_marker'
    assert RebootChange.run_id_variable == 'rolling_reboot_run_id' and RebootChange.ledger_kind.kind == 'reboot'


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def watch(clock, looks):
    looks = list(looks)

    def look():
        return looks.pop(0) if len(looks) > 1 else looks[0]
    return RebootWatch(CTIConnection('10.1.4.42', name='gs0042', passcode='pw'), [1],
                       WatchOptions(down_timeout=10, reboot_timeout=30, registration_timeout=10, poll_interval=1),
                       clock=clock, probe=look, port_check=lambda: look().reachable)


def drive(proof, clock, limit=500):
    for dummy in range(limit):
        if proof.done:
            return proof
        clock.now = max(clock.now, proof.due_at)
        proof.step()
    raise AssertionError('the proof never finished')


def test_the_reboot_outcome_of_a_finished_watch():
    """The watch says done and ok (or why it failed); the change turns that into its outcome words."""
    change = RebootChange.from_args(task_args())
    clock = Clock()
    proof = watch(clock, [Observation(True, [1]), Observation(False), Observation(True, [1])])
    assert change.outcome_of(proof) is None, 'no outcome while it runs'
    assert change.outcome_of(drive(proof, clock)) == 'rebooted'
    never = watch(clock, [Observation(True, [1])])
    assert change.outcome_of(drive(never, clock)) == 'failed' and never.reason == 'never_down'


def test_a_chain_proof_runs_its_steps_in_order_and_fails_with_the_first_failure():
    clock = Clock()
    values = iter([CTIError('gs0042 (10.1.4.42)', UNREACHABLE, 'no answer.'), 'old', 'new'])
    read = ReadCheck('gs0042 (10.1.4.42)', 'marked_after', read=lambda: _next(values), accept=lambda value: value == 'new',
                     describe=lambda value: 'still %s' % value, reason='old_marker', timeout=10, interval=1, clock=clock)
    chain = ChainProof([watch(clock, [Observation(True, [1]), Observation(False), Observation(True, [1])]), read])
    drive(chain, clock)
    assert chain.ok and read.reads == 3 and chain.reason is None
    timings = chain.timings
    assert timings['registered_after'] <= timings['marked_after'] and timings['down_after'] is not None
    assert chain.first.expected == [1]

    stuck = ReadCheck('gs0042 (10.1.4.42)', 'marked_after', read=lambda: 'old', accept=lambda value: value == 'new',
                      describe=lambda value: 'the phone still has %s' % value, reason='old_marker', timeout=5, interval=1,
                      clock=clock)
    failed = drive(ChainProof([watch(clock, [Observation(True, [1]), Observation(False), Observation(True, [1])]), stuck]),
                   clock)
    assert failed.done and not failed.ok and failed.reason == 'old_marker'
    assert failed.error == 'gs0042 (10.1.4.42): the phone still has old (checked for 5 s).'
    assert stuck.reads == 6, 'a read every second for 5 s, the last one at the deadline'

    never = ChainProof([watch(clock, [Observation(True, [1])]), ReadCheck(
        'gs0042', 'marked_after', read=lambda: pytest.fail('read after a failed step'), accept=bool, describe=str,
        reason='x', timeout=1, interval=1, clock=clock)])
    assert drive(never, clock).reason == 'never_down', 'a failed step ends the chain: the next step never runs'


def test_a_read_step_never_asks_again_after_a_rejected_passcode():
    clock = Clock()
    reads = []

    def read():
        reads.append(clock.now)
        raise CTIError('gs0042 (10.1.4.42)', AUTH_FAILED, 'the phone rejected the passcode (HTTP 401).')
    step = ReadCheck('gs0042 (10.1.4.42)', 'marked_after', read=read, accept=bool, describe=str, reason='x', timeout=60,
                     interval=1, clock=clock)
    step.begin(clock.now)
    step.step()
    assert step.done and step.reason == 'auth_failed' and len(reads) == 1
    assert step.error.startswith('gs0042 (10.1.4.42): the phone rejected the passcode')


def _next(values):
    value = next(values)
    if isinstance(value, Exception):
        raise value
    return value


def test_a_read_step_counts_its_time_from_its_own_start_or_from_the_change():
    """A step of ``timeout`` seconds begun 100 s after the change: by default it may read until 100 + timeout; counted
    from the change (a version step: the download, the flash and a second reboot all count), until ``timeout``; and a
    step begun after that time still reads once before it gives up."""
    for from_change in (False, True):
        clock = Clock()
        changed_at = clock.now
        clock.now += 100.0 if not from_change else 10.0
        step = ReadCheck('gs0042', 'marked_after', read=lambda: 'old', accept=lambda value: value == 'new',
                         describe=lambda value: 'still %s' % value, reason='old_marker', timeout=30, interval=5,
                         clock=clock, from_change=from_change)
        step.begin(changed_at)
        began = clock.now
        while not step.done:
            clock.now = max(clock.now, step.due_at)
            step.step()
        assert step.reason == 'old_marker' and step.last_answered
        assert clock.now == (changed_at if from_change else began) + 30.0, (from_change, clock.now)
    late = Clock()
    late.now = 500.0
    step = ReadCheck('gs0042', 'marked_after', read=lambda: 'new', accept=lambda value: value == 'new', describe=str,
                     reason='x', timeout=30, interval=5, clock=late, from_change=True)
    step.begin(0.0)
    step.step()
    assert step.ok and step.reads == 1 and step.timings['marked_after'] == 500.0
