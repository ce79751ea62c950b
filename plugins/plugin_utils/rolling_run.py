# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling change engine: one run of a :class:`~rolling_change.Change` over the phones of a play, batch after
batch, from a loaded ledger.

:class:`RollingRun` settles what the ledger says (done, failed for good, to check after an interruption, to plan),
preflights the phones to plan at once, plans batches (``rolling_plan``), checks the phones of an interrupted attempt,
then runs the batches (``rolling_batch``: the busy policy, the change sent to a batch together, one waiter for every
proof of the batch).  The next batch starts only when every phone of the current one is proven or failed.  It stops
for a failed canary, too many failures, a closed window, an interruption (:meth:`RollingRun.interrupt`, called from
a signal handler) or a vanished controller; an interrupted run writes its ledger and raises :class:`RunStopped` with
the report of what was done.

Everything the engine does to the world comes in through its constructor (the fan-out, the clock, the display, the
controller check) and the change, so the rules are unit-tested with a fake fleet and a fake clock
(tests/unit/plugins/plugin_utils/test_rolling_run.py) and proven again against the simulator.
"""

import collections
import datetime
import os
import time

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import fanout
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_batch import BatchRunner
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import RunClock, fan_out_results
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import resume_point
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_phone import RollingPhone
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    REASON_CHECK_MODE, REASON_DUPLICATE, REASON_INTERRUPTED, REASON_UNVERIFIED, STOP_CANARY, STOP_INTERRUPTED,
    STOP_MAX_FAIL, STOP_REASONS, STOP_WINDOW, fail_limit_exceeded, plan_batches, resume_hint,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_progress import (
    batch_label, plan_text, progress_line, signal_name,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_resume import (
    settle_from_ledger, settle_interrupted,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_summary import run_report


class ControllerGone(Exception):
    """ansible-playbook died (SIGKILL): its worker must not go on changing phones on its own."""


class RunInterrupted(BaseException):
    """Raised in the run's thread by :meth:`RollingRun.interrupt` (a signal handler): Ctrl-C, SIGTERM.  A
    BaseException, so that nothing on the way catches it."""

    def __init__(self, signum):
        super(RunInterrupted, self).__init__(signum)
        self.signum = signum


class RunStopped(BaseException):
    """The run stopped before its end (interrupted, or its controller gone) and wrote its ledger.  ``report``: what was
    done; ``message``: what happened and how to resume; ``signum``: the signal that stopped it (None: the controller)."""

    def __init__(self, message, report, signum=None):
        super(RunStopped, self).__init__(message)
        self.message, self.report, self.signum = message, report, signum


def parent_alive_check():
    """A callable that is True while the process that started this one (ansible-playbook) is alive.

    Ansible's workers run in a session of their own, so killing ansible-playbook's process group (SIGKILL, or an
    OOM kill) leaves the worker running; it must not go on sending changes that nobody watches, nor race a re-run.
    (SIGINT and SIGTERM reach the worker through ansible-playbook: :meth:`RollingRun.interrupt`.)
    """
    parent = os.getppid()
    return lambda: os.getppid() == parent


def real_clock():
    return RunClock(time.monotonic, time.time, datetime.datetime.now, time.sleep)


class RollingRun(object):
    """One run of ``change`` over a loaded ledger (read under the run lock); :meth:`run` returns the report.

    ``settings``: a RollingSettings.  The world, injected (defaults: the real one): ``fan_out(targets, work,
    concurrency)`` (``fanout.fan_out``), ``clock`` (a RunClock), ``display`` (one line for people) and
    ``controller_alive`` (False once ansible-playbook is gone).
    """

    def __init__(self, targets, settings, change, ledger, check_mode=False, display=None, fan_out=None, clock=None,
                 controller_alive=None):
        self.change = change
        self.phones = [RollingPhone(target, change.timing_keys) for target in targets]
        self.by_name = dict((phone.name, phone) for phone in self.phones)
        self.settings = settings
        self.ledger = ledger
        self.run_id = ledger.run_id
        self.check_mode = bool(check_mode)
        self.display = display or (lambda line: None)
        self.fan_out = fan_out or fanout.fan_out
        self.clock = clock or real_clock()
        self.controller_alive = controller_alive or parent_alive_check()
        self.stopping = False
        self.late_signal = None
        self.stopped_reason = None
        self.stop_message = None
        self.batches_run = 0
        self.batch_seconds = []
        self.batch_size = 1
        self.canary = 0
        self.next_batch = 1
        self.planned = 0
        self.replanned_from = None  # the batch count an earlier attempt planned, when this one needs more
        self.plan = {}
        self.changed = False
        self.started = self.clock.monotonic()
        self.started_epoch = self.clock.wall()
        self.batches = BatchRunner(self)

    # -- the world -----------------------------------------------------------------------

    def interrupt(self, signum):
        """Stop the run now (a signal handler calls it): raises RunInterrupted once.  Once the run is stopping or has
        finished, a signal is only remembered (``late_signal``), so that it cannot break the writing of the ledger and
        the reports; the caller ends as the signal asks once they are written."""
        if self.stopping:
            if self.late_signal is None:
                self.late_signal = signum
            return
        self.stopping = True
        raise RunInterrupted(signum)

    def check_controller(self):
        if not self.stopping and not self.controller_alive():
            self.stopping = True
            raise ControllerGone('ansible-playbook stopped while the %s %s was running; it stopped too. To resume, %s.'
                                 % (self.change.title.lower(), self.run_id, self.resume_hint()))

    def resume_hint(self):
        return resume_hint(self.run_id, self.change.run_id_variable)

    def sleep(self, seconds):
        """Sleep in short steps, looking for a vanished controller between them."""
        end = self.clock.monotonic() + max(0.0, seconds)
        while True:
            self.check_controller()
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.5))

    def fan_out_phones(self, phones, work):
        """``work(client, target)`` over the phones; one PhoneResult each."""
        return fan_out_results(self.fan_out, [phone.target for phone in phones], work, self.settings.concurrency)

    def write(self, phone):
        """Put the phone's ledger entry (its one projection) into the ledger; saved at the next save."""
        entry = phone.ledger_entry()
        if entry is not None and not self.check_mode:
            self.ledger.put(phone.key, entry)

    def save(self):
        if not self.check_mode:
            self.ledger.save()

    def say(self, line):
        self.display(line)

    # -- counting ------------------------------------------------------------------------

    def count(self, outcome):
        return sum(1 for phone in self.phones if phone.outcome == outcome)

    def attempted(self):
        """(attempted, failed) for max_fail_percent: the phones this attempt sent a change to or checked.

        An ``unverified`` phone is neither: nobody saw whether it restarted, so it is no evidence either way.
        """
        attempted = [phone for phone in self.phones if phone.attempted and phone.outcome is not None
                     and phone.reason not in (REASON_UNVERIFIED, REASON_INTERRUPTED)]
        return len(attempted), sum(1 for phone in attempted if phone.outcome != self.change.done)

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        try:
            report = self._run()
            self.stopping = True  # finished: a signal from now on waits for the reports
            return report
        except RunInterrupted as exc:
            raise RunStopped(*settle_interrupted(self, 'interrupted by %s' % signal_name(exc.signum), exc.signum))
        except ControllerGone as exc:
            raise RunStopped(*settle_interrupted(self, str(exc), None))

    def _run(self):
        check, fresh = settle_from_ledger(self)
        # Percentages are of every phone of the run, done or not, so that a resumed run keeps its batch size.
        population = max(1, sum(1 for phone in self.phones if phone.reason != REASON_DUPLICATE))
        eligible = self.batches.preflight(fresh)
        self.change.before_batches([phone.preflight for phone in eligible])  # RunRefused: nothing is sent
        self.batch_size = self.settings.batch_count(population)
        self.canary = 0 if self.ledger.get('canary_passed') else self.settings.canary_count(population)
        batches = plan_batches([phone.name for phone in eligible], self.batch_size, self.canary)
        first_batch = max([0] + [entry.get('batch') or 0 for entry in self.ledger.entries()])
        self.next_batch = first_batch + 1
        self.planned = self._batches_planned(first_batch, len(batches))
        self.plan = plan_text(self, eligible, check, batches)
        if self.check_mode:
            self._plan_only(batches, check)
            return run_report(self, len(batches))
        if check:
            self._check_resumed(check)
        queue = collections.deque(self.by_name[name] for batch in batches for name in batch)
        self._run_batches(queue)
        self.settle_not_attempted(STOP_REASONS.get(self.stopped_reason), self.stop_note())
        return run_report(self, self.planned)

    def _batches_planned(self, first_batch, count):
        """The batch count of the run, fixed when the run id is first planned so that "batch 3 of 5" stays "of 5" for
        the whole run, resumes included; a resume that needs more batches (more phones, a batch left half sent) says
        so in its plan and counts from then on."""
        needed = first_batch + count
        stored = self.ledger.get('batches_planned')
        planned = stored if isinstance(stored, int) and stored >= needed else needed
        if isinstance(stored, int) and stored < needed:
            self.replanned_from = stored
        if not self.check_mode and count:
            self.ledger.set('batches_planned', planned)
        return planned

    def _plan_only(self, batches, check):
        for number, batch in enumerate(batches, 1):
            for name in batch:
                self.by_name[name].batch = number
                self.by_name[name].finish(NOT_ATTEMPTED, reason=REASON_CHECK_MODE, note='check mode: would be %s in '
                                          'batch %d of %d.' % (self.change.done, number, len(batches)))
        for phone in check:
            phone.finish(NOT_ATTEMPTED, reason=REASON_CHECK_MODE,
                         note='check mode: its %s of an earlier attempt of this run would be checked, not sent again.'
                         % self.change.verb)

    def _check_resumed(self, phones):
        """Prove the changes that went out (or may have) before an interruption; nothing is sent."""
        started = self.clock.monotonic()
        now = self.clock.wall()
        for phone in phones:
            phone.proof = self.change.resume(phone.target, resume_point(self.ledger.entry(phone.key), now), self.clock)
            phone.attempted = True
        label = 'Check of the phones whose change went out before the earlier attempt of run %s stopped' % self.run_id
        self.batches.prove(phones, label)
        self.batches_run += 1
        self.batch_seconds.append(self.clock.monotonic() - started)
        self.say(progress_line(self, label, phones, started))
        self._check_failures()

    def _window_closed(self):
        window = self.settings.window
        if window and not window.is_open(self.clock.local_now()):
            self.stopped_reason = STOP_WINDOW
            self.stop_message = ('the maintenance window %s (controller local time) is closed, so no further batch '
                                 'starts. To resume, %s.' % (window.text, self.resume_hint()))
            return True
        return False

    def _run_batches(self, queue):
        canary_pending = bool(self.canary)
        pause_due = False
        while queue and not self.stopped_reason:
            if pause_due and self.settings.batch_pause:
                self.sleep(self.settings.batch_pause)
            pause_due = False
            if self._window_closed():
                return
            ready = self.batches.take_idle(queue, self.canary if canary_pending else self.batch_size)
            if not ready:
                if queue:  # every phone left is in a call: look again after poll_interval
                    self.sleep(self.batches.busy_sleep(queue))
                continue
            number = self.next_batch
            self.next_batch += 1
            started = self.clock.monotonic()
            label = batch_label(number, self.planned, canary_pending)
            self.batches.send_and_prove(ready, number, label, queue)
            self.batches_run += 1
            self.batch_seconds.append(self.clock.monotonic() - started)
            self.say(progress_line(self, label, ready, started))
            pause_due = True
            if canary_pending:
                canary_pending = False
                failed = [phone for phone in ready if phone.attempted and phone.outcome != self.change.done]
                if failed:
                    self.stopped_reason = STOP_CANARY
                    self.stop_message = ('the canary batch did not fully succeed (%s), so no further batch starts.'
                                         % ', '.join('%s %s' % (phone.name, phone.reason) for phone in failed))
                    return
                if any(phone.attempted for phone in ready):
                    self.ledger.set('canary_passed', True)
                    self.save()
            self._check_failures()

    def _check_failures(self):
        attempted, failed = self.attempted()
        if not self.stopped_reason and fail_limit_exceeded(failed, attempted, self.settings.max_fail_percent):
            self.stopped_reason = STOP_MAX_FAIL
            self.stop_message = ('%d of the %d phones attempted so far failed (%.0f%%), more than max_fail_percent (%s%%), '
                                 'so no further batch starts.' % (failed, attempted, 100.0 * failed / attempted,
                                                                  ('%g' % self.settings.max_fail_percent)))

    def stop_note(self):
        window = self.settings.window
        return {STOP_CANARY: 'not attempted: the run stopped after the canary batch failed.',
                STOP_MAX_FAIL: 'not attempted: the run stopped because too many phones failed (max_fail_percent).',
                STOP_WINDOW: 'not attempted: the maintenance window %s was closed; to resume, %s.'
                % (window.text if window else '', self.resume_hint()),
                STOP_INTERRUPTED: 'not attempted: the run was interrupted before its turn; to resume, %s.'
                % self.resume_hint()}.get(self.stopped_reason)

    def settle_not_attempted(self, reason, note):
        for phone in self.phones:
            if phone.outcome is None:
                phone.finish(NOT_ATTEMPTED, reason=reason, note=note)
