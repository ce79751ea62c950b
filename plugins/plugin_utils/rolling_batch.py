# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One batch of a rolling run (:class:`BatchRunner`): fill it with phones whose lines are idle now (the busy policy),
send the change to all of them together, then prove every change of the batch from one waiter.

Per phone, in the send's fan-out: the last look at the lines, the ledger entry ``sending`` on disk, the change.  The
waiter steps the proofs that are due, together, then sleeps until the next one is due; it writes into the ledger the
moment a phone is first seen going down, and prints progress as phones go down, come back and finish.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR, ERROR_CLASSES, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import BUSY_FORCE, BUSY_SKIP
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_proof import SEEN_DOWN
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import (
    Busy, ChangeRefused, Refused, Sent, Withheld,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import LEDGER_SENDING
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import REASON_BUSY, SKIPPED_BUSY
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_progress import BatchProgress, problem_line
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_state import StateFileError
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import duration_text


class BatchRunner(object):
    """The batches of a RollingRun (``run``: its phones, change, ledger, clock, settings, display)."""

    def __init__(self, run):
        self.run = run
        self.progress = None

    # -- before the plan -------------------------------------------------------------------------

    def preflight(self, phones):
        """Read every phone at once; returns the phones to change, idle ones first, then busy ones (policy wait)."""
        run = self.run
        idle, busy = [], []
        now = run.clock.monotonic()
        for phone, result in zip(phones, run.fan_out_phones(phones, lambda client, target: run.change.preflight(client))):
            if not result.ok:
                phone.fail_read(result)
                continue
            phone.preflight = result.value
            skip = run.change.skip_reason(phone.preflight)
            if skip is not None:
                phone.finish(skip.outcome, reason=skip.reason, error=skip.error, note=skip.note)
            elif phone.preflight.in_use and run.settings.busy_policy != BUSY_FORCE:
                if run.settings.busy_policy == BUSY_SKIP:
                    phone.finish(SKIPPED_BUSY, reason=REASON_BUSY, note='%s: a line was in use at the preflight '
                                 '(busy_policy=skip); not %s.' % (phone.target.label, run.change.done))
                    continue
                phone.busy_since = now
                busy.append(phone)
            else:
                idle.append(phone)
        return idle + busy

    # -- filling a batch: the busy policy -----------------------------------------------------------

    def take_idle(self, queue, size):
        """Up to ``size`` phones whose lines are idle right now; busy ones go to the back of the queue."""
        run = self.run
        ready, looked = [], set()
        while len(ready) < size and queue and queue[0].name not in looked:
            take = []
            while queue and len(take) < size - len(ready) and queue[0].name not in looked:
                take.append(queue.popleft())
            looked.update(phone.name for phone in take)
            now = run.clock.monotonic()
            for phone, result in zip(take, run.fan_out_phones(take, lambda client, target: run.change.preflight(client))):
                if not result.ok:
                    phone.fail_read(result)
                    self._say_problem(phone)
                    continue
                skip = run.change.skip_reason(result.value)
                if skip is not None:
                    phone.finish(skip.outcome, reason=skip.reason, error=skip.error, note=skip.note)
                elif result.value.in_use and run.settings.busy_policy != BUSY_FORCE:
                    self._busy(phone, queue, now)
                else:
                    phone.preflight = result.value
                    if phone.busy_since is not None:
                        phone.timings['busy_wait'] = round(now - phone.busy_since, 2)
                    ready.append(phone)
        return ready

    def _busy(self, phone, queue, now):
        """A phone found in a call: skipped, or moved to the back of the queue."""
        settings = self.run.settings
        if phone.busy_since is None:
            phone.busy_since = now
        waited = now - phone.busy_since
        phone.timings['busy_wait'] = round(waited, 2)
        if settings.busy_policy == BUSY_SKIP:
            phone.finish(SKIPPED_BUSY, reason=REASON_BUSY, note='%s: a line was in use (busy_policy=skip); not %s.'
                         % (phone.target.label, self.run.change.done))
        elif waited >= settings.busy_timeout:
            phone.finish(SKIPPED_BUSY, reason=REASON_BUSY, note='%s: a line was still in use after busy_timeout (%s); '
                         'not %s.' % (phone.target.label, duration_text(settings.busy_timeout), self.run.change.done))
        else:
            queue.append(phone)
            return
        self._say_problem(phone)

    def busy_sleep(self, queue):
        now = self.run.clock.monotonic()
        wait = self.run.settings.poll_interval
        for phone in queue:
            if phone.busy_since is not None:
                wait = min(wait, max(0.0, phone.busy_since + self.run.settings.busy_timeout - now))
        return max(0.05, wait)

    # -- sending ------------------------------------------------------------------------------------

    def send_and_prove(self, ready, number, label, queue):
        """Send the change to the ``ready`` phones of batch ``number`` together, then prove it; a phone found in a call
        at the last look goes back to ``queue``."""
        run = self.run
        run.check_controller()
        for phone in ready:
            phone.batch = number
        force = run.settings.busy_policy == BUSY_FORCE
        commanded = set()  # phones marked sending: their request may have left

        def send(client, target):
            phone = run.by_name[target.name]
            # The last look at the lines, right before the change.
            if not force and run.change.lines_in_use(client):
                return Busy()
            if run.stopping or not run.controller_alive():  # the worker of a stopped run sends nothing more
                return Withheld()
            phone.mark_sending(number, run.clock.wall(), run.change.ledger_fields(phone.preflight))
            try:
                run.write(phone)
                run.ledger.save()  # on disk before the request leaves (the phones of a batch share the writes)
            except StateFileError as exc:
                return Withheld(exc)
            commanded.add(target.name)
            try:
                proof = run.change.apply(client, phone.preflight, run.clock)
            except ChangeRefused as refusal:
                return Refused(None, refusal.error, refusal.reason)
            except CTIError as error:
                return Refused(error.error_class, str(error))
            return Sent(proof, run.clock.wall())

        self.progress = BatchProgress(run, label)
        now = run.clock.monotonic()
        ledger_error = None
        for phone, result in zip(ready, run.fan_out_phones(ready, send)):
            if phone.name in commanded:
                phone.attempted = True
            ledger_error = self._settle_send(phone, result, phone.name in commanded, queue, now) or ledger_error
        run.save()
        if ledger_error is not None:
            raise ledger_error
        run.check_controller()
        self.prove(ready, label)

    def _settle_send(self, phone, result, commanded, queue, now):
        """What the send of one phone of the batch found; returns the StateFileError that withheld it, if any."""
        run = self.run
        value = result.value
        if not result.ok and commanded:
            # Something unexpected after the request was on its way: whether it went out is unknown.
            phone.finish(FAILED, reason=result.error_class or ERROR, error=result.error, error_class=result.error_class)
            phone.mark_failed(sent=True, checked=False)
            run.write(phone)
            self._say_problem(phone)
        elif not result.ok:
            # The last look at the lines failed, or marking the phone failed: nothing went out.
            if phone.stage == LEDGER_SENDING:
                phone.mark_unsent()
                run.write(phone)
            phone.fail_read(result)
            phone.batch = None
            self._say_problem(phone)
        elif isinstance(value, Busy):
            phone.batch = None
            self._busy(phone, queue, now)
        elif isinstance(value, Withheld):
            if phone.stage == LEDGER_SENDING:  # marked in memory, not on disk: nothing went out
                phone.mark_unsent()
                run.write(phone)
            phone.batch = None
            return value.error
        elif isinstance(value, Refused):
            # Refused, or the connection failed before the request left: the phone is not changing.
            phone.finish(FAILED, reason=value.reason or value.error_class or ERROR, error=value.error,
                         error_class=value.error_class)
            phone.mark_failed(sent=False, checked=None)
            run.write(phone)
            self._say_problem(phone)
        elif isinstance(value, Sent):
            phone.mark_sent(value.sent_at, value.proof)
            note = run.change.sent_note(value.proof)
            if note:
                phone.add_note(note)
            run.write(phone)
        return None

    # -- proving: one waiter for the whole batch ----------------------------------------------------

    def prove(self, phones, label):
        """Step the proofs that are due, together, then sleep until the next is due.  The moment a phone is first seen
        going down goes into the ledger: a resumed run then knows that its restart was seen."""
        run = self.run
        if self.progress is None or self.progress.label != label:
            self.progress = BatchProgress(run, label)
        watched = [phone for phone in phones if phone.proof is not None]
        self.progress.watch(watched)
        self._settle_proofs([phone for phone in watched if phone.proof.done])
        pending = [phone for phone in watched if not phone.proof.done]

        def step(client, target):
            run.by_name[target.name].proof.step()

        while pending:
            run.check_controller()
            now = run.clock.monotonic()
            due = [phone for phone in pending if phone.proof.due_at <= now]
            if due:
                for phone, result in zip(due, run.fan_out_phones(due, step)):
                    if not result.ok and not phone.proof.done:
                        phone.proof.fail(ERROR, result.error)
                        phone.error_class = result.error_class
                for phone in due:
                    if phone.seen_down is None and phone.proof.timings.get(SEEN_DOWN) is not None:
                        phone.mark_seen_down(run.clock.wall())
                        run.write(phone)
            self._settle_proofs([phone for phone in pending if phone.proof.done])  # saves the ledger (seen_down too)
            pending = [phone for phone in pending if not phone.proof.done]
            self.progress.update(pending)
            if pending:
                run.sleep(max(0.0, min(phone.proof.due_at for phone in pending) - run.clock.monotonic()))
        self.progress = None

    def settle_finished_proofs(self):
        """Settle the proofs that finished but were not settled yet (an interruption between the two)."""
        self._settle_proofs([phone for phone in self.run.phones
                             if phone.in_flight and phone.proof is not None and phone.proof.done], save=False)

    def _settle_proofs(self, phones, save=True):
        run = self.run
        for phone in phones:
            proof = phone.proof
            proof.close()
            phone.timings.update(proof.timings)
            outcome = run.change.outcome_of(proof)
            if proof.ok:
                phone.finish(outcome)
                for note in run.change.finished_notes(proof):
                    phone.add_note(note)
                phone.mark_done(outcome)
            else:
                error_class = phone.error_class or (proof.reason if proof.reason in ERROR_CLASSES else None)
                phone.finish(outcome, reason=proof.reason, error=proof.error, error_class=error_class)
                phone.mark_failed(sent=True, checked=True)
                self._say_problem(phone)
            run.write(phone)
        if save:
            run.save()

    def _say_problem(self, phone):
        """Name a failure (or a skip) as it happens."""
        label = self.progress.label if self.progress is not None else '%s %s' % (self.run.change.title, self.run.run_id)
        self.run.say(problem_line(label, phone))
