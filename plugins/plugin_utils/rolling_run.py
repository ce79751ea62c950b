# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot engine: one run over the phones of a play, batch after batch, from a loaded ledger.

:class:`RollingReboot` sorts the phones by what the ledger says (done, failed for good, to check after an
interruption, to plan), preflights the phones to plan at once (a fan-out of ``reboot.preflight``), plans
batches (``rolling_plan``), checks the phones of an interrupted attempt, then, batch after batch, sends the
batch's commands together (per phone: the last look at the lines, the ledger entry ``sending`` on disk, the
command) and drives every RebootWatch of the batch from one waiter.  The next batch starts only when every
phone of the current one is proven rebooted or failed.

Everything the engine does to the world comes in through its constructor (the fan-out, the clocks, sleep,
the display, the watch probes), so the rules are unit-tested with a fake fleet and a fake clock
(tests/unit/plugins/plugin_utils/test_rolling_run.py) and proven again against the simulator.
"""

import collections
import datetime
import os
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, ERROR, ERROR_CLASSES, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import (
    BUSY_FORCE, BUSY_SKIP, WatchOptions, preflight, send_command,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import fanout
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import utc_timestamp
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_phone import ResumedWatch, RollingPhone
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import (
    LEDGER_FAILED, LEDGER_PENDING, LEDGER_REBOOTED, LEDGER_SENDING, LEDGER_SENT, RESUME_CHECK, RESUME_DONE,
    RESUME_FAILED, command_time, resume_action,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    ALREADY_DONE, FAILED, NOT_ATTEMPTED, OUTCOMES, REASON_BUSY, REASON_CHECK_MODE, REASON_DUPLICATE, REASON_UNVERIFIED,
    REASON_VARIABLES, REBOOTED, SKIPPED_BUSY, STOP_CANARY, STOP_MAX_FAIL, STOP_REASONS, STOP_WINDOW,
    fail_limit_exceeded, first_of_duplicates, has_canary, parse_batch_size, phone_key, plan_batches, resume_hint,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import duration_text, name_list

NO_ACCOUNT_NOTE = 'no account was registered before the reboot, so registration was not checked.'


class ControllerGone(Exception):
    """ansible-playbook died (SIGKILL): its worker must not go on rebooting phones on its own."""


def parent_alive_check():
    """A callable that is True while the process that started this one (ansible-playbook) is alive.

    Ansible's workers run in a session of their own, so killing ansible-playbook's process group (SIGKILL, or an
    OOM kill) leaves the worker running; it must not go on sending commands that nobody watches, nor race a
    re-run.  (SIGTERM reaches the worker through ansible-playbook and ends it at once.)
    """
    parent = os.getppid()
    return lambda: os.getppid() == parent


def _look(client, target):
    """Fan-out work: a phone's lines and registered accounts (reboot.preflight), read-only."""
    facts = preflight(client)
    return {'in_use': facts['in_use'], 'registered': facts['registered']}


class RollingReboot(object):
    """One run of the rolling reboot over a loaded ledger (read under the run lock); :meth:`run` returns the report.

    ``settings``: the task's options (batch_size, canary, batch_pause, max_fail_percent, concurrency, window);
    ``options``: the reboot options of ``reboot.check_options``; ``window``: a rolling_plan.Window or None.
    The world, injected (defaults: the real one): ``fan_out(targets, work, concurrency)`` (``fanout.fan_out``),
    ``clock`` (monotonic seconds), ``wall`` (epoch seconds, for the ledger), ``local_now`` (a datetime, for the
    window), ``sleep``, ``display`` (one line for people), ``controller_alive`` (False once ansible-playbook is
    gone) and ``watch_probes(target)`` (``{'probe': ..., 'port_check': ...}`` for a phone's RebootWatch, or None
    for the real network probes).
    """

    def __init__(self, targets, settings, options, ledger, check_mode=False, window=None, display=None,
                 fan_out=None, clock=time.monotonic, wall=time.time, local_now=datetime.datetime.now, sleep=time.sleep,
                 controller_alive=None, watch_probes=None):
        self.phones = [RollingPhone(target) for target in targets]
        self.by_name = dict((phone.name, phone) for phone in self.phones)
        self.settings = settings
        self.options = options
        self.watch_options = WatchOptions.from_options(options)
        self.ledger = ledger
        self.run_id = ledger.run_id
        self.check_mode = bool(check_mode)
        self.window = window
        self.display = display or (lambda line: None)
        self.fan_out = fan_out or fanout.fan_out
        self.clock = clock
        self.wall = wall
        self.local_now = local_now
        self.sleep = sleep
        self.controller_alive = controller_alive or parent_alive_check()
        self.watch_probes = watch_probes or (lambda target: {})
        self.stopped_reason = None
        self.stop_message = None
        self.batches_run = 0
        self.batch_seconds = []
        self.batch_size = 1
        self.next_batch = 1
        self.planned = 0
        self.plan = {}
        self.changed = False
        self.started = clock()
        self.started_epoch = wall()

    # -- the world -----------------------------------------------------------------------

    def _check_controller(self):
        if not self.controller_alive():
            raise ControllerGone('ansible-playbook stopped while the rolling reboot %s was running; it stopped too. To '
                                 'resume, %s.' % (self.run_id, resume_hint(self.run_id)))

    def _sleep(self, seconds):
        """Sleep in short steps, looking for a vanished controller between them."""
        end = self.clock() + max(0.0, seconds)
        while True:
            self._check_controller()
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, 0.5))

    def _fan_out(self, phones, work):
        return self.fan_out([phone.target for phone in phones], work, self.settings['concurrency'])

    # -- the ledger: the durable copy of each phone's story --------------------------------

    def _record(self, phone, **fields):
        if not self.check_mode:
            self.ledger.update(phone.key, name=phone.name, host=phone.target.host, port=phone.target.port, **fields)

    def _record_sending(self, phone, batch):
        """On disk before the request leaves (the phones of a batch share the writes): an interruption from here on
        leaves a phone that is checked on resume, never sent a second command."""
        self.ledger.put(phone.key, {'name': phone.name, 'host': phone.target.host, 'port': phone.target.port,
                                    'state': LEDGER_SENDING, 'batch': batch, 'sending_at': self.wall(),
                                    'expected': list(phone.registered)})
        self.ledger.save()

    def _save(self):
        if not self.check_mode:
            self.ledger.save()

    # -- counting ------------------------------------------------------------------------

    def _count(self, outcome):
        return sum(1 for phone in self.phones if phone.outcome == outcome)

    def _attempted(self):
        """(attempted, failed) for max_fail_percent: the phones this attempt sent a command to or checked.

        An ``unverified`` phone is neither: nobody saw whether it restarted, so it is no evidence either way.
        """
        attempted = [phone for phone in self.phones if phone.attempted and phone.outcome in (REBOOTED, FAILED)
                     and phone.reason != REASON_UNVERIFIED]
        return len(attempted), sum(1 for phone in attempted if phone.outcome == FAILED)

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        check, fresh = self._sort()
        # Percentages are of every phone of the run, done or not, so that a resumed run keeps its batch size.
        population = max(1, sum(1 for phone in self.phones if phone.reason != REASON_DUPLICATE))
        eligible = self._preflight(fresh)
        batch_size = parse_batch_size(self.settings['batch_size'], population, 'batch_size')
        self.batch_size = batch_size
        canary = 0
        if has_canary(self.settings['canary']) and not self.ledger.get('canary_passed'):
            canary = parse_batch_size(self.settings['canary'], population, 'canary')
        batches = plan_batches([phone.name for phone in eligible], batch_size, canary)
        self._show_plan(eligible, check, batches, batch_size, canary)
        if self.check_mode:
            self._plan_only(batches, check)
            return self._report(batch_size, canary, len(batches))

        first_batch = max([0] + [entry.get('batch') or 0 for entry in self.ledger.entries()])
        self.next_batch = first_batch + 1
        self.planned = first_batch + len(batches)
        if check:
            self._check_resumed(check)
        queue = collections.deque(self.by_name[name] for batch in batches for name in batch)
        self._batches(queue, batch_size, canary)
        note = {STOP_CANARY: 'not attempted: the run stopped after the canary batch failed.',
                STOP_MAX_FAIL: 'not attempted: the run stopped because too many phones failed (max_fail_percent).',
                STOP_WINDOW: 'not attempted: the maintenance window %s was closed; to resume, %s.'
                % (self.window.text if self.window else '', resume_hint(self.run_id))}.get(self.stopped_reason)
        for phone in queue:
            if phone.outcome is None:
                phone.finish(NOT_ATTEMPTED, reason=STOP_REASONS.get(self.stopped_reason), note=note)
        return self._report(batch_size, canary, self.planned)

    def _plan_only(self, batches, check):
        for number, batch in enumerate(batches, 1):
            for name in batch:
                self.by_name[name].batch = number
                self.by_name[name].finish(NOT_ATTEMPTED, reason=REASON_CHECK_MODE,
                                          note='check mode: would be rebooted in batch %d of %d.' % (number, len(batches)))
        for phone in check:
            phone.finish(NOT_ATTEMPTED, reason=REASON_CHECK_MODE,
                         note='check mode: its reboot command of an earlier attempt of this run would be checked, '
                              'not sent again.')

    def _sort(self):
        """Settle what needs no phone; returns the phones to check after an interruption and the phones to preflight."""
        duplicates = first_of_duplicates(phone.target for phone in self.phones)
        check, fresh = [], []
        for phone in self.phones:
            target = phone.target
            if target.problem:
                phone.fail_before_command(FAILED, REASON_VARIABLES, '%s: %s' % (phone.name, target.problem))
                continue
            if phone.name in duplicates:
                first = self.by_name[duplicates[phone.name]]
                phone.fail_before_command(FAILED, REASON_DUPLICATE, (
                    '%s: the same address as %s, which this run reboots; nothing is sent to it under the name %s. '
                    'Give each phone one inventory name.' % (target.label, first.name, phone.name)))
                continue
            phone.key = self.ledger.find(phone.name, target.host, target.port) or phone_key(target.host, target.port)
            entry = self.ledger.entry(phone.key)
            action = resume_action(entry)
            earlier_name = entry.get('name') or phone.key
            as_name = ' (as %s)' % earlier_name if earlier_name != phone.name else ''
            if action == RESUME_DONE:
                phone.batch = entry.get('batch')
                phone.timings.update(entry.get('timings') or {})
                phone.finish(ALREADY_DONE, note='rebooted in batch %s of an earlier attempt of run %s%s.'
                             % (entry.get('batch'), self.run_id, as_name))
            elif action == RESUME_FAILED:
                phone.batch = entry.get('batch')
                phone.timings.update(entry.get('timings') or {})
                phone.finish(FAILED, reason=entry.get('reason') or entry.get('failure') or ERROR,
                             error=entry.get('error') or '%s: failed in an earlier attempt.' % target.label,
                             error_class=entry.get('error_class'),
                             note='failed in batch %s of an earlier attempt of run %s%s, which is final for that run id: '
                                  'nothing was sent again. A new run id reboots it again.'
                                  % (entry.get('batch'), self.run_id, as_name))
            elif action == RESUME_CHECK:
                phone.batch = entry.get('batch')
                phone.registered = list(entry.get('expected') or [])
                check.append(phone)
            else:
                fresh.append(phone)
        return check, fresh

    def _preflight(self, phones):
        """Read every phone at once; returns the phones to reboot, idle ones first, then busy ones (policy wait)."""
        idle, busy = [], []
        now = self.clock()
        for phone, result in zip(phones, self._fan_out(phones, _look)):
            if not result['ok']:
                phone.fail_read(result)
                continue
            phone.registered = result['data']['registered']
            if result['data']['in_use'] and self.options['busy_policy'] != BUSY_FORCE:
                if self.options['busy_policy'] == BUSY_SKIP:
                    phone.finish(SKIPPED_BUSY, reason=REASON_BUSY, note='%s: a line was in use at the preflight '
                                                                        '(busy_policy=skip); not rebooted.' % phone.target.label)
                    continue
                phone.busy_since = now
                busy.append(phone)
            else:
                idle.append(phone)
        return idle + busy

    def _show_plan(self, eligible, check, batches, batch_size, canary):
        before = [phone for phone in self.phones if phone.before_command]
        busy = [phone for phone in eligible if phone.busy_since is not None]
        per_batch = self.options['reboot_timeout'] + self.options['registration_timeout']
        worst = len(batches) * per_batch + max(0, len(batches) - 1) * self.settings['batch_pause']
        self.plan = {'eligible': len(eligible), 'batches': len(batches), 'batch_size': batch_size, 'canary': canary,
                     'verify_first': len(check), 'busy_deferred': len(busy),
                     'max_seconds_per_batch': per_batch, 'max_seconds': worst}
        text = ('Rolling reboot %s: %d phone%s, %d to reboot in %d batch%s of up to %d%s, pause %s between batches; '
                % (self.run_id, len(self.phones), '' if len(self.phones) == 1 else 's', len(eligible), len(batches),
                   '' if len(batches) == 1 else 'es', batch_size, ' (canary batch of %d first)' % canary if canary else '',
                   duration_text(self.settings['batch_pause'])))
        text += ('each batch takes at most %s (reboot_timeout + registration_timeout), the run at most %s; a typical '
                 'ETA, from the measured batch times, is printed after the first batch.' % (
                     duration_text(per_batch), duration_text(worst)))
        details = []
        if busy:
            details.append('%d phone%s in a call moved to the last batches (busy_policy=wait)' % (len(busy), '' if len(busy) == 1 else 's'))
        if check:
            details.append('%d phone%s whose command went out before an interruption checked first, not sent again'
                           % (len(check), '' if len(check) == 1 else 's'))
        done = self._count(ALREADY_DONE)
        if done:
            details.append('%d already rebooted earlier in this run' % done)
        failed_earlier = [phone for phone in self.phones if phone.outcome == FAILED and not phone.before_command]
        if failed_earlier:
            details.append('%d failed earlier in this run, final for this run id: %s' % (len(failed_earlier), name_list(
                '%s (%s)' % (phone.name, phone.reason) for phone in failed_earlier)))
        if before:
            details.append('%d failed the preflight and get no command: %s' % (len(before), name_list(
                '%s (%s)' % (phone.name, phone.reason) for phone in before)))
        skipped = self._count(SKIPPED_BUSY)
        if skipped:
            details.append('%d skipped: in a call (busy_policy=skip)' % skipped)
        if details:
            text += ' ' + '; '.join(details) + '.'
        if self.window:
            text += ' Maintenance window %s (controller local time).' % self.window.text
        text += ' Ledger: %s.' % self.ledger.path
        if self.check_mode:
            text += ' Check mode: nothing is sent.'
        self.display(text)

    def _check_resumed(self, phones):
        """Watch the phones whose command went out (or may have) before an interruption; no command is sent."""
        started = self.clock()
        now = self.wall()
        for phone in phones:
            entry = self.ledger.entry(phone.key)
            sent_at = command_time(entry)
            down_after = entry['seen_down'] - sent_at if entry.get('seen_down') is not None else None
            phone.seen_down = down_after is not None
            probes = self.watch_probes(phone.target)
            phone.watch = ResumedWatch(phone.target.connection, phone.registered, self.watch_options,
                                       sent_ago=max(0.0, now - sent_at), down_after=down_after,
                                       sent=entry.get('state') == LEDGER_SENT, clock=self.clock,
                                       probe=probes.get('probe'), port_check=probes.get('port_check'))
            phone.attempted = True
        self._wait(phones)
        self.batches_run += 1
        self.batch_seconds.append(self.clock() - started)
        self._progress('Check of the phones whose command went out before the earlier attempt of run %s stopped'
                       % self.run_id, phones, started)
        self._check_failures()

    def _window_closed(self):
        if self.window and not self.window.is_open(self.local_now()):
            self.stopped_reason = STOP_WINDOW
            self.stop_message = ('the maintenance window %s (controller local time) is closed, so no further batch '
                                 'starts. To resume, %s.' % (self.window.text, resume_hint(self.run_id)))
            return True
        return False

    def _batches(self, queue, batch_size, canary):
        canary_pending = bool(canary)
        pause_due = False
        while queue and not self.stopped_reason:
            if pause_due and self.settings['batch_pause']:
                self._sleep(self.settings['batch_pause'])
            pause_due = False
            if self._window_closed():
                return
            size = canary if canary_pending else batch_size
            ready = self._collect(queue, size)
            if not ready:
                if queue:  # every phone left is in a call: look again after poll_interval
                    self._sleep(self._busy_sleep(queue))
                continue
            self._send_and_watch(ready, canary_pending, queue)
            pause_due = True
            if canary_pending:
                canary_pending = False
                failed = [phone for phone in ready if phone.attempted and phone.outcome != REBOOTED]
                if failed:
                    self.stopped_reason = STOP_CANARY
                    self.stop_message = ('the canary batch did not fully succeed (%s), so no further batch starts.'
                                         % ', '.join('%s %s' % (phone.name, phone.reason) for phone in failed))
                    return
                if any(phone.attempted for phone in ready):
                    self.ledger.set('canary_passed', True)
                    self._save()
            self._check_failures()

    def _busy_sleep(self, queue):
        now = self.clock()
        wait = self.options['poll_interval']
        for phone in queue:
            if phone.busy_since is not None:
                wait = min(wait, max(0.0, phone.busy_since + self.options['busy_timeout'] - now))
        return max(0.05, wait)

    def _check_failures(self):
        attempted, failed = self._attempted()
        if not self.stopped_reason and fail_limit_exceeded(failed, attempted, self.settings['max_fail_percent']):
            self.stopped_reason = STOP_MAX_FAIL
            self.stop_message = ('%d of the %d phones attempted so far failed (%.0f%%), more than max_fail_percent (%s%%), '
                                 'so no further batch starts.' % (failed, attempted, 100.0 * failed / attempted,
                                                                  ('%g' % self.settings['max_fail_percent'])))

    def _busy(self, phone, queue, now):
        """A phone found in a call: skipped, or moved to the back of the queue."""
        if phone.busy_since is None:
            phone.busy_since = now
        waited = now - phone.busy_since
        phone.timings['busy_wait'] = round(waited, 2)
        if self.options['busy_policy'] == BUSY_SKIP:
            phone.finish(SKIPPED_BUSY, reason=REASON_BUSY,
                         note='%s: a line was in use (busy_policy=skip); not rebooted.' % phone.target.label)
        elif waited >= self.options['busy_timeout']:
            phone.finish(SKIPPED_BUSY, reason=REASON_BUSY, note='%s: a line was still in use after busy_timeout (%s); '
                         'not rebooted.' % (phone.target.label, duration_text(self.options['busy_timeout'])))
        else:
            queue.append(phone)

    def _collect(self, queue, size):
        """Up to ``size`` phones whose lines are idle right now; busy ones go to the back of the queue."""
        ready, looked = [], set()
        while len(ready) < size and queue and queue[0].name not in looked:
            take = []
            while queue and len(take) < size - len(ready) and queue[0].name not in looked:
                take.append(queue.popleft())
            looked.update(phone.name for phone in take)
            now = self.clock()
            for phone, result in zip(take, self._fan_out(take, _look)):
                if not result['ok']:
                    phone.fail_read(result)
                elif result['data']['in_use'] and self.options['busy_policy'] != BUSY_FORCE:
                    self._busy(phone, queue, now)
                else:
                    phone.registered = result['data']['registered']
                    if phone.busy_since is not None:
                        phone.timings['busy_wait'] = round(now - phone.busy_since, 2)
                    ready.append(phone)
        return ready

    def _send_and_watch(self, ready, canary, queue):
        started = self.clock()
        number = self.next_batch
        self.next_batch += 1
        self._check_controller()
        for phone in ready:
            phone.batch = number
        force = self.options['busy_policy'] == BUSY_FORCE
        commanded = set()  # phones marked sending: their request may have left

        def work(client, target):
            phone = self.by_name[target.name]
            # The last look at the lines, right before the command.
            if not force and any(line['in_use'] for line in client.get_line_status()):
                return {'busy': True}
            self._check_controller()  # the worker of a killed ansible-playbook sends nothing more
            self._record_sending(phone, number)
            commanded.add(target.name)
            probes = self.watch_probes(target)
            try:
                watch = send_command(client, phone.registered, self.options, clock=self.clock,
                                     probe=probes.get('probe'), port_check=probes.get('port_check'))
            except CTIError as error:
                return {'refused': error}
            return {'watch': watch, 'sent_at': self.wall()}

        watched = []
        now = self.clock()
        for phone, result in zip(ready, self._fan_out(ready, work)):
            if phone.name in commanded:
                phone.attempted = True
            if self._sent(phone, result, queue, now, phone.name in commanded):
                watched.append(phone)
        self._save()
        self._wait(watched)
        self.batches_run += 1
        self.batch_seconds.append(self.clock() - started)
        self.planned = max(self.planned, number)
        self._progress('Batch %d of %d%s' % (number, self.planned, ' (canary)' if canary else ''), ready, started)
        return watched

    def _sent(self, phone, result, queue, now, commanded):
        """What the command work of one phone of the batch found; True when its reboot is now to be watched."""
        data = result['data']
        if not result['ok'] and commanded:
            # Something unexpected after the request was on its way: whether it went out is unknown.
            phone.finish(FAILED, reason=result['error_class'] or ERROR, error=result['message'],
                         error_class=result['error_class'])
            self._record(phone, state=LEDGER_FAILED, sent=True, checked=False, reason=phone.reason,
                         error=phone.error, error_class=phone.error_class)
        elif not result['ok']:
            # The last look at the lines failed, or the ledger could not be written: nothing went out.
            phone.fail_read(result)
            phone.batch = None
            if self.ledger.state(phone.key) == LEDGER_SENDING:
                self._record(phone, state=LEDGER_PENDING)
        elif data.get('busy'):
            phone.batch = None
            self._busy(phone, queue, now)
        elif 'refused' in data:
            # Refused, or the connection failed before the request left: the phone is not rebooting.
            error = data['refused']
            phone.finish(FAILED, reason=error.error_class or ERROR, error=str(error), error_class=error.error_class)
            self._record(phone, state=LEDGER_FAILED, sent=False, reason=phone.reason, error=phone.error,
                         error_class=phone.error_class)
        else:
            phone.watch = data['watch']
            if phone.watch.dropped:
                phone.add_note('the phone closed the connection instead of answering REBOOT (counted as sent).')
            self._record(phone, state=LEDGER_SENT, sent_at=data['sent_at'])
            return True
        return False

    def _wait(self, phones):
        """One waiter for the whole batch: step the watches that are due, together, then sleep until the next is due.

        (RebootWatch.step: a bare TCP check of the web port while the phone goes down and comes back, a registration
        poll once it answers.)  The moment a phone is first seen down goes into the ledger: a resumed run then knows
        that its restart was seen.
        """
        pending = [phone for phone in phones if phone.watch is not None and not phone.watch.done]
        self._record_finished([phone for phone in phones if phone.watch is not None and phone.watch.done])

        def work(client, target):
            self.by_name[target.name].watch.step()
            return {}

        while pending:
            self._check_controller()
            now = self.clock()
            due = [phone for phone in pending if phone.watch.due_at <= now]
            if due:
                for phone, result in zip(due, self._fan_out(due, work)):
                    if not result['ok'] and not phone.watch.done:
                        phone.watch.fail(ERROR, result['message'])
                        phone.error_class = result['error_class']
                for phone in due:
                    if not phone.seen_down and phone.watch.timings['down_after'] is not None:
                        phone.seen_down = True
                        self._record(phone, seen_down=self.wall())
            finished = [phone for phone in pending if phone.watch.done]
            self._record_finished(finished)  # saves the ledger (seen_down included)
            pending = [phone for phone in pending if not phone.watch.done]
            if pending:
                self._sleep(max(0.0, min(phone.watch.due_at for phone in pending) - self.clock()))

    def _record_finished(self, phones):
        for phone in phones:
            watch = phone.watch
            watch.close()
            phone.timings.update(watch.timings)
            if watch.ok:
                note = None
                if isinstance(watch, ResumedWatch):
                    note = ('checked after the interruption: %s, back and registered; its command was not sent again.'
                            % ('seen going down before it' if watch.seen_down_before else 'found down'))
                phone.finish(REBOOTED, note=note)
                if not watch.expected:
                    phone.add_note(NO_ACCOUNT_NOTE)
                self._record(phone, state=LEDGER_REBOOTED, timings=dict(watch.timings), note=phone.note)
            else:
                error_class = phone.error_class or (watch.failure if watch.failure in ERROR_CLASSES else None)
                phone.finish(FAILED, reason=watch.failure, error=watch.reason, error_class=error_class)
                self._record(phone, state=LEDGER_FAILED, sent=True, checked=True, reason=phone.reason, error=phone.error,
                             error_class=error_class, timings=dict(watch.timings))
        self._save()

    def _progress(self, label, batch, started):
        counts = dict((outcome, self._count(outcome)) for outcome in OUTCOMES)
        sent = [phone for phone in batch if phone.attempted]
        elapsed = self.clock() - self.started
        remaining = sum(1 for phone in self.phones if phone.outcome is None)
        average = sum(self.batch_seconds) / len(self.batch_seconds) if self.batch_seconds else 0.0
        left_batches = -(-remaining // self.batch_size) if remaining else 0
        eta = left_batches * (average + self.settings['batch_pause'])
        line = ('%s: %d sent, %d rebooted, %d failed in %s. So far %d rebooted, %d already done, %d failed, '
                '%d skipped busy, %d unreachable, %d auth failed; %d to go. Elapsed %s, ETA %s.'
                % (label, len(sent),
                   sum(1 for phone in sent if phone.outcome == REBOOTED),
                   sum(1 for phone in sent if phone.outcome == FAILED), duration_text(self.clock() - started),
                   counts[REBOOTED], counts[ALREADY_DONE], counts[FAILED], counts[SKIPPED_BUSY],
                   counts[UNREACHABLE], counts[AUTH_FAILED], remaining, duration_text(elapsed), duration_text(eta)))
        self.display(line)

    # -- the report ------------------------------------------------------------------------

    def _report(self, batch_size, canary, planned):
        duration = round(self.clock() - self.started, 3)
        finished_epoch = self.started_epoch + duration
        phones = [phone.record() for phone in self.phones]
        summary = dict((outcome, 0) for outcome in OUTCOMES)
        reasons = collections.Counter()
        for phone in phones:
            summary[phone['outcome']] += 1
            if phone['reason']:
                reasons[phone['reason']] += 1
        attempted, failed = self._attempted()
        summary.update(
            total=len(phones),
            run_id=self.run_id,
            stopped=self.stopped_reason in (STOP_CANARY, STOP_MAX_FAIL, STOP_WINDOW),
            stopped_reason=self.stopped_reason,
            stop_message=self.stop_message,
            check_mode=self.check_mode,
            resumed=self.ledger.resumed,
            preflight_failed=sum(1 for phone in self.phones if phone.outcome == FAILED and phone.before_command),
            reasons=dict(sorted(reasons.items())),
            attempted=attempted,
            failed_percent=round(100.0 * failed / attempted, 2) if attempted else 0.0,
            batch_size=batch_size,
            canary=canary,
            batches_planned=planned,
            batches_run=self.batches_run,
            started_at=utc_timestamp(self.started_epoch),
            finished_at=utc_timestamp(finished_epoch),
            duration_seconds=duration,
        )
        # Changed: a phone went down because of this attempt (a failed phone may have gone down and not come back).
        self.changed = any(phone.attempted and phone.timings.get('down_after') is not None for phone in self.phones)
        options, settings = self.options, self.settings
        return {'summary': summary, 'phones': phones, 'plan': self.plan,
                'settings': {'batch_size': str(settings['batch_size']), 'canary': settings['canary'],
                             'batch_pause': settings['batch_pause'], 'busy_policy': options['busy_policy'],
                             'busy_timeout': options['busy_timeout'], 'down_timeout': options['down_timeout'],
                             'reboot_timeout': options['reboot_timeout'],
                             'registration_timeout': options['registration_timeout'],
                             'poll_interval': options['poll_interval'],
                             'max_fail_percent': settings['max_fail_percent'], 'window': settings['window'] or None,
                             'ledger': self.ledger.path}}
