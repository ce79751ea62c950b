# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot of many phones from one task, inside the worker on the controller.

One task, whatever ``forks`` says.  It takes the state directory's lock, then reads the run's ledger
(module_utils/rolling), sorts the phones by what the ledger says (done, failed for good, to check after
an interruption, to plan), preflights the phones to plan at once (module_utils/fleet.fan_out of
reboot.preflight), plans batches, checks the phones of an interrupted attempt, then, batch after batch,
sends the batch's commands together (fan_out: per phone the last look at the lines, the ledger entry
``sending`` on disk, the command) and drives every RebootWatch of the batch from one waiter (fan_out of
watch.step() over the watches that are due, then a sleep until the next one is due).
The next batch starts only when every phone of the current one is proven rebooted or failed.
"""

import collections
import os
import time

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, ERROR, ERROR_CLASSES, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.fleet import fan_out, name_list
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import (
    BUSY_FORCE, BUSY_SKIP, REBOOT, check_options, preflight, send_command,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reports import (
    csv_text, junit_xml, utc_timestamp, write_atomic, write_json,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling import (
    LEDGER_FAILED, LEDGER_PENDING, LEDGER_REBOOTED, LEDGER_SENDING, LEDGER_SENT, OUTCOMES, PROBLEM_OUTCOMES,
    REASON_BUSY, REASON_CANARY, REASON_CHECK_MODE, REASON_DUPLICATE, REASON_MAX_FAIL, REASON_UNVERIFIED,
    REASON_VARIABLES, REASON_WINDOW, RESUME_CHECK, RESUME_DONE, RESUME_FAILED,
    Ledger, ResumedWatch, RunLock, Window, check_run_id, command_time, default_run_id, duration_text,
    fail_limit_exceeded, first_of_duplicates, parse_batch_size, phone_key, plan_batches, resume_action,
)
from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_reboot import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule

STOP_CANARY = 'canary'
STOP_MAX_FAIL = 'max_fail_percent'
STOP_WINDOW = 'window'
STOP_REASONS = {STOP_CANARY: REASON_CANARY, STOP_MAX_FAIL: REASON_MAX_FAIL, STOP_WINDOW: REASON_WINDOW}
REPORT_NAMES = {'json': 'rolling_reboot.json', 'junit': 'rolling_reboot.junit.xml', 'csv': 'rolling_reboot.csv'}
TIMING_KEYS = ('down_after', 'up_after', 'registered_after')
NO_ACCOUNT_NOTE = 'no account was registered before the reboot, so registration was not checked.'


class ControllerGone(Exception):
    """ansible-playbook died (SIGKILL): its worker must not go on rebooting phones on its own."""


def has_canary(value):
    return str(value if value is not None else '').strip() not in ('', '0', '0%')


def resume_hint(run_id):
    return 'run again with the same run id (-e rolling_reboot_run_id=%s with the role or the playbook)' % run_id


def _look(client, target):
    """Fan-out work: a phone's lines and registered accounts (reboot.preflight), read-only."""
    facts = preflight(client)
    return {'in_use': facts['in_use'], 'registered': facts['registered']}


def _preflight_outcome(result):
    """Outcome of a phone whose read failed (nothing was sent to it)."""
    if result['error_class'] == UNREACHABLE:
        return 'unreachable'
    if result['error_class'] == AUTH_FAILED:
        return 'auth_failed'
    return 'failed'


class Phone(object):
    """What the run knows about one phone."""

    def __init__(self, target):
        self.target = target
        self.name = target.name
        self.key = None              # its ledger entry (phone_key of its address)
        self.outcome = None
        self.reason = None           # why it was not rebooted (rolling.REASON_*, a CTI error class, a watch failure)
        self.error_class = None      # the CTI error class when a CTI error caused the outcome
        self.batch = None
        self.error = None
        self.note = None
        self.timings = dict((key, None) for key in TIMING_KEYS)
        self.timings['busy_wait'] = None
        self.registered = []
        self.busy_since = None
        self.watch = None
        self.attempted = False       # this attempt sent it a command or checked it (max_fail_percent)
        self.before_command = False  # failed before any command was tried (summary preflight_failed)
        self.seen_down = False       # the ledger says it was seen down

    def finish(self, outcome, reason=None, error=None, error_class=None, note=None):
        self.outcome = outcome
        self.reason = reason
        self.error = error
        self.error_class = error_class
        if note:
            self.add_note(note)

    def add_note(self, text):
        self.note = '%s %s' % (self.note, text) if self.note else text

    def record(self):
        return {
            'name': self.name,
            'host': self.target.host,
            'port': self.target.port,
            'site': self.target.variables.get('site'),
            'outcome': self.outcome,
            'reason': self.reason,
            'error_class': self.error_class,
            'batch': self.batch,
            'timings': dict(self.timings),
            'error': self.error,
            'note': self.note,
        }


class RollingReboot(object):
    """One run of the rolling reboot over a loaded ledger (read under the run lock); :meth:`run` returns the report."""

    def __init__(self, targets, args, options, check_mode, display, ledger, window=None, sleep=time.sleep):
        self.phones = [Phone(target) for target in targets]
        self.by_name = dict((phone.name, phone) for phone in self.phones)
        self.args = args
        self.options = options
        self.check_mode = check_mode
        self.display = display
        self.sleep = sleep
        self.window = window
        self.ledger = ledger
        self.run_id = ledger.run_id
        self.concurrency = args['concurrency']
        self.stopped_reason = None
        self.stop_message = None
        self.batches_run = 0
        self.batch_seconds = []
        self.batch_size = 1
        self.next_batch = 1
        self.planned = 0
        self.started = time.monotonic()
        self.started_epoch = time.time()
        self.plan = {}
        self.parent = os.getppid()

    def _check_controller(self):
        """Stop when ansible-playbook is gone.

        Ansible's workers run in a session of their own, so killing ansible-playbook's process group (SIGKILL, or an
        OOM kill) leaves this worker running; it must not go on sending commands that nobody watches, nor race a
        re-run.  (SIGTERM reaches the worker through ansible-playbook and ends it at once.)
        """
        if os.getppid() != self.parent:
            raise ControllerGone('ansible-playbook stopped while the rolling reboot %s was running; it stopped too. To '
                                 'resume, %s.' % (self.run_id, resume_hint(self.run_id)))

    def _sleep(self, seconds):
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self._check_controller()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(left, 0.5))

    # -- helpers -------------------------------------------------------------------------

    def _fan_out(self, phones, work):
        return fan_out([phone.target for phone in phones], work, concurrency=self.concurrency)

    def _save(self):
        if not self.check_mode:
            self.ledger.save()

    def _ledger(self, phone, **fields):
        if not self.check_mode:
            self.ledger.update(phone.key, name=phone.name, host=phone.target.host, port=phone.target.port, **fields)

    def _count(self, outcome):
        return sum(1 for phone in self.phones if phone.outcome == outcome)

    def _attempted(self):
        """(attempted, failed) for max_fail_percent: the phones this attempt sent a command to or checked.

        An ``unverified`` phone is neither: nobody saw whether it restarted, so it is no evidence either way.
        """
        attempted = [phone for phone in self.phones if phone.attempted and phone.outcome in ('rebooted', 'failed')
                     and phone.reason != REASON_UNVERIFIED]
        return len(attempted), sum(1 for phone in attempted if phone.outcome == 'failed')

    def _fail_before_command(self, phone, outcome, reason, error, error_class=None):
        phone.before_command = True
        phone.finish(outcome, reason=reason, error=error, error_class=error_class)

    def _fail_read(self, phone, result):
        """A read (the preflight, the last look at the lines) failed: nothing was sent."""
        self._fail_before_command(phone, _preflight_outcome(result), result['error_class'] or ERROR, result['message'],
                                  result['error_class'])

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        check, fresh = self._sort()
        # Percentages are of every phone of the run, done or not, so that a resumed run keeps its batch size.
        population = max(1, sum(1 for phone in self.phones if phone.reason != REASON_DUPLICATE))
        eligible = self._preflight(fresh)
        batch_size = parse_batch_size(self.args['batch_size'], population, 'batch_size')
        self.batch_size = batch_size
        canary = 0
        if has_canary(self.args['canary']) and not self.ledger.get('canary_passed'):
            canary = parse_batch_size(self.args['canary'], population, 'canary')
        batches = plan_batches([phone.name for phone in eligible], batch_size, canary)
        self._show_plan(eligible, check, batches, batch_size, canary)
        if self.check_mode:
            for number, batch in enumerate(batches, 1):
                for name in batch:
                    self.by_name[name].batch = number
                    self.by_name[name].finish('not_attempted', reason=REASON_CHECK_MODE,
                                              note='check mode: would be rebooted in batch %d of %d.' % (number, len(batches)))
            for phone in check:
                phone.finish('not_attempted', reason=REASON_CHECK_MODE,
                             note='check mode: its reboot command of an earlier attempt of this run would be checked, '
                                  'not sent again.')
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
                phone.finish('not_attempted', reason=STOP_REASONS.get(self.stopped_reason), note=note)
        return self._report(batch_size, canary, self.planned)

    def _sort(self):
        """Settle what needs no phone; returns the phones to check after an interruption and the phones to preflight."""
        duplicates = first_of_duplicates(phone.target for phone in self.phones)
        check, fresh = [], []
        for phone in self.phones:
            target = phone.target
            if target.problem:
                self._fail_before_command(phone, 'failed', REASON_VARIABLES, '%s: %s' % (phone.name, target.problem))
                continue
            if phone.name in duplicates:
                first = self.by_name[duplicates[phone.name]]
                self._fail_before_command(phone, 'failed', REASON_DUPLICATE, (
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
                phone.finish('already_done', note='rebooted in batch %s of an earlier attempt of run %s%s.'
                             % (entry.get('batch'), self.run_id, as_name))
            elif action == RESUME_FAILED:
                phone.batch = entry.get('batch')
                phone.timings.update(entry.get('timings') or {})
                phone.finish('failed', reason=entry.get('reason') or entry.get('failure') or ERROR,
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
        now = time.monotonic()
        for phone, result in zip(phones, self._fan_out(phones, _look)):
            if not result['ok']:
                self._fail_read(phone, result)
                continue
            phone.registered = result['data']['registered']
            if result['data']['in_use'] and self.options['busy_policy'] != BUSY_FORCE:
                if self.options['busy_policy'] == BUSY_SKIP:
                    phone.finish('skipped_busy', reason=REASON_BUSY, note='%s: a line was in use at the preflight '
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
        worst = len(batches) * per_batch + max(0, len(batches) - 1) * self.args['batch_pause']
        self.plan = {'eligible': len(eligible), 'batches': len(batches), 'batch_size': batch_size, 'canary': canary,
                     'verify_first': len(check), 'busy_deferred': len(busy),
                     'max_seconds_per_batch': per_batch, 'max_seconds': worst}
        text = ('Rolling reboot %s: %d phone%s, %d to reboot in %d batch%s of up to %d%s, pause %s between batches; '
                % (self.run_id, len(self.phones), '' if len(self.phones) == 1 else 's', len(eligible), len(batches),
                   '' if len(batches) == 1 else 'es', batch_size, ' (canary batch of %d first)' % canary if canary else '',
                   duration_text(self.args['batch_pause'])))
        text += ('each batch takes at most %s (reboot_timeout + registration_timeout), the run at most %s; a typical '
                 'ETA, from the measured batch times, is printed after the first batch.' % (
                     duration_text(per_batch), duration_text(worst)))
        details = []
        if busy:
            details.append('%d phone%s in a call moved to the last batches (busy_policy=wait)' % (len(busy), '' if len(busy) == 1 else 's'))
        if check:
            details.append('%d phone%s whose command went out before an interruption checked first, not sent again'
                           % (len(check), '' if len(check) == 1 else 's'))
        done = self._count('already_done')
        if done:
            details.append('%d already rebooted earlier in this run' % done)
        failed_earlier = [phone for phone in self.phones if phone.outcome == 'failed' and not phone.before_command]
        if failed_earlier:
            details.append('%d failed earlier in this run, final for this run id: %s' % (len(failed_earlier), name_list(
                '%s (%s)' % (phone.name, phone.reason) for phone in failed_earlier)))
        if before:
            details.append('%d failed the preflight and get no command: %s' % (len(before), name_list(
                '%s (%s)' % (phone.name, phone.reason) for phone in before)))
        skipped = self._count('skipped_busy')
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
        started = time.monotonic()
        now = time.time()
        for phone in phones:
            entry = self.ledger.entry(phone.key)
            sent_at = command_time(entry)
            down_after = entry['seen_down'] - sent_at if entry.get('seen_down') is not None else None
            phone.seen_down = down_after is not None
            phone.watch = ResumedWatch(phone.target.connection, phone.registered, sent_ago=max(0.0, now - sent_at),
                                       down_after=down_after, sent=entry.get('state') == LEDGER_SENT,
                                       operation=REBOOT, wait=True, down_timeout=self.options['down_timeout'],
                                       reboot_timeout=self.options['reboot_timeout'],
                                       registration_timeout=self.options['registration_timeout'],
                                       connect_timeout=self.options['connect_timeout'],
                                       poll_interval=self.options['poll_interval'])
            phone.attempted = True
        self._wait(phones)
        self.batches_run += 1
        self.batch_seconds.append(time.monotonic() - started)
        self._progress('Check of the phones whose command went out before the earlier attempt of run %s stopped'
                       % self.run_id,
                       phones, started)
        self._check_failures()

    def _window_closed(self):
        if self.window and not self.window.is_open():
            self.stopped_reason = STOP_WINDOW
            self.stop_message = ('the maintenance window %s (controller local time) is closed, so no further batch '
                                 'starts. To resume, %s.' % (self.window.text, resume_hint(self.run_id)))
            return True
        return False

    def _batches(self, queue, batch_size, canary):
        canary_pending = bool(canary)
        pause_due = False
        while queue and not self.stopped_reason:
            if pause_due and self.args['batch_pause']:
                self._sleep(self.args['batch_pause'])
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
                failed = [phone for phone in ready if phone.attempted and phone.outcome != 'rebooted']
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
        now = time.monotonic()
        wait = self.options['poll_interval']
        for phone in queue:
            if phone.busy_since is not None:
                wait = min(wait, max(0.0, phone.busy_since + self.options['busy_timeout'] - now))
        return max(0.05, wait)

    def _check_failures(self):
        attempted, failed = self._attempted()
        if not self.stopped_reason and fail_limit_exceeded(failed, attempted, self.args['max_fail_percent']):
            self.stopped_reason = STOP_MAX_FAIL
            self.stop_message = ('%d of the %d phones attempted so far failed (%.0f%%), more than max_fail_percent (%s%%), '
                                 'so no further batch starts.' % (failed, attempted, 100.0 * failed / attempted,
                                                                  ('%g' % self.args['max_fail_percent'])))

    def _busy(self, phone, queue, now):
        """A phone found in a call: skipped, or moved to the back of the queue."""
        if phone.busy_since is None:
            phone.busy_since = now
        waited = now - phone.busy_since
        phone.timings['busy_wait'] = round(waited, 2)
        if self.options['busy_policy'] == BUSY_SKIP:
            phone.finish('skipped_busy', reason=REASON_BUSY,
                         note='%s: a line was in use (busy_policy=skip); not rebooted.' % phone.target.label)
        elif waited >= self.options['busy_timeout']:
            phone.finish('skipped_busy', reason=REASON_BUSY, note='%s: a line was still in use after busy_timeout (%s); '
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
            now = time.monotonic()
            for phone, result in zip(take, self._fan_out(take, _look)):
                if not result['ok']:
                    self._fail_read(phone, result)
                elif result['data']['in_use'] and self.options['busy_policy'] != BUSY_FORCE:
                    self._busy(phone, queue, now)
                else:
                    phone.registered = result['data']['registered']
                    if phone.busy_since is not None:
                        phone.timings['busy_wait'] = round(now - phone.busy_since, 2)
                    ready.append(phone)
        return ready

    def _send_and_watch(self, ready, canary, queue):
        started = time.monotonic()
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
            # On disk before the request leaves (the phones of the batch share the writes): an interruption from here
            # on leaves a phone that is checked on resume, never sent a second command.
            self.ledger.put(phone.key, {'name': phone.name, 'host': target.host, 'port': target.port,
                                        'state': LEDGER_SENDING, 'batch': number, 'sending_at': time.time(),
                                        'expected': list(phone.registered)})
            self.ledger.save()
            commanded.add(target.name)
            facts = {'registered': phone.registered, 'configured': phone.registered}
            try:
                watch = send_command(client, facts, self.options)
            except CTIError as error:
                return {'refused': error}
            return {'watch': watch, 'sent_at': time.time()}

        watched = []
        now = time.monotonic()
        for phone, result in zip(ready, self._fan_out(ready, work)):
            data = result['data']
            if not result['ok'] and phone.name in commanded:
                # Something unexpected after the request was on its way: whether it went out is unknown.
                phone.attempted = True
                phone.finish('failed', reason=result['error_class'] or ERROR, error=result['message'],
                             error_class=result['error_class'])
                self._ledger(phone, state=LEDGER_FAILED, sent=True, checked=False, reason=phone.reason,
                             error=phone.error, error_class=phone.error_class)
            elif not result['ok']:
                # The last look at the lines failed, or the ledger could not be written: nothing went out.
                self._fail_read(phone, result)
                phone.batch = None
                if self.ledger.state(phone.key) == LEDGER_SENDING:
                    self._ledger(phone, state=LEDGER_PENDING)
            elif data.get('busy'):
                phone.batch = None
                self._busy(phone, queue, now)
            elif 'refused' in data:
                # Refused, or the connection failed before the request left: the phone is not rebooting.
                error = data['refused']
                phone.attempted = True
                phone.finish('failed', reason=error.error_class or ERROR, error=str(error), error_class=error.error_class)
                self._ledger(phone, state=LEDGER_FAILED, sent=False, reason=phone.reason, error=phone.error,
                             error_class=phone.error_class)
            else:
                phone.attempted = True
                phone.watch = data['watch']
                if phone.watch.dropped:
                    phone.add_note('the phone closed the connection instead of answering REBOOT (counted as sent).')
                self._ledger(phone, state=LEDGER_SENT, sent_at=data['sent_at'])
                watched.append(phone)
        self._save()
        self._wait(watched)
        self.batches_run += 1
        self.batch_seconds.append(time.monotonic() - started)
        self.planned = max(self.planned, number)
        self._progress('Batch %d of %d%s' % (number, self.planned, ' (canary)' if canary else ''), ready, started)
        return watched

    def _wait(self, phones):
        """One waiter for the whole batch: step the watches that are due, together, then sleep until the next is due.

        (RebootWatch.step: a poll, or between polls a bare TCP check of the web port of a phone not yet seen going
        down, so a phone that restarts faster than poll_interval is not missed.)  The moment a phone is first seen
        down goes into the ledger: a resumed run then knows that its restart was seen.
        """
        pending = [phone for phone in phones if phone.watch is not None and not phone.watch.done]
        self._record_finished([phone for phone in phones if phone.watch is not None and phone.watch.done])

        def work(client, target):
            self.by_name[target.name].watch.step()
            return {}

        while pending:
            self._check_controller()
            now = time.monotonic()
            due = [phone for phone in pending if phone.watch.due_at <= now]
            if due:
                for phone, result in zip(due, self._fan_out(due, work)):
                    if not result['ok'] and not phone.watch.done:
                        phone.watch._fail(ERROR, result['message'])  # pylint: disable=protected-access
                        phone.error_class = result['error_class']
                for phone in due:
                    if not phone.seen_down and phone.watch.timings['down_after'] is not None:
                        phone.seen_down = True
                        self._ledger(phone, seen_down=time.time())
            finished = [phone for phone in pending if phone.watch.done]
            self._record_finished(finished)  # saves the ledger (seen_down included)
            pending = [phone for phone in pending if not phone.watch.done]
            if pending:
                self._sleep(max(0.0, min(phone.watch.due_at for phone in pending) - time.monotonic()))

    def _record_finished(self, phones):
        for phone in phones:
            watch = phone.watch
            phone.timings.update(watch.timings)
            if watch.ok:
                note = None
                if isinstance(watch, ResumedWatch):
                    note = ('checked after the interruption: %s, back and registered; its command was not sent again.'
                            % ('seen going down before it' if watch.seen_down_before else 'found down'))
                phone.finish('rebooted', note=note)
                if not watch.expected:
                    phone.add_note(NO_ACCOUNT_NOTE)
                self._ledger(phone, state=LEDGER_REBOOTED, timings=dict(watch.timings), note=phone.note)
            else:
                error_class = phone.error_class or (watch.failure if watch.failure in ERROR_CLASSES else None)
                phone.finish('failed', reason=watch.failure, error=watch.reason, error_class=error_class)
                self._ledger(phone, state=LEDGER_FAILED, sent=True, checked=True, reason=phone.reason, error=phone.error,
                             error_class=error_class, timings=dict(watch.timings))
        self._save()

    def _progress(self, label, batch, started):
        counts = dict((outcome, self._count(outcome)) for outcome in OUTCOMES)
        sent = [phone for phone in batch if phone.attempted]
        elapsed = time.monotonic() - self.started
        remaining = sum(1 for phone in self.phones if phone.outcome is None)
        average = sum(self.batch_seconds) / len(self.batch_seconds) if self.batch_seconds else 0.0
        left_batches = -(-remaining // self.batch_size) if remaining else 0
        eta = left_batches * (average + self.args['batch_pause'])
        line = ('%s: %d sent, %d rebooted, %d failed in %s. So far %d rebooted, %d already done, %d failed, '
                '%d skipped busy, %d unreachable, %d auth failed; %d to go. Elapsed %s, ETA %s.'
                % (label, len(sent),
                   sum(1 for phone in sent if phone.outcome == 'rebooted'),
                   sum(1 for phone in sent if phone.outcome == 'failed'), duration_text(time.monotonic() - started),
                   counts['rebooted'], counts['already_done'], counts['failed'], counts['skipped_busy'],
                   counts['unreachable'], counts['auth_failed'], remaining, duration_text(elapsed), duration_text(eta)))
        self.display(line)

    # -- the report ------------------------------------------------------------------------

    def _report(self, batch_size, canary, planned):
        duration = round(time.monotonic() - self.started, 3)
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
            check_mode=bool(self.check_mode),
            resumed=self.ledger.resumed,
            preflight_failed=sum(1 for phone in self.phones if phone.outcome == 'failed' and phone.before_command),
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
        return {'summary': summary, 'phones': phones, 'plan': self.plan,
                'settings': {'batch_size': str(self.args['batch_size']), 'canary': self.args['canary'],
                             'batch_pause': self.args['batch_pause'], 'busy_policy': self.options['busy_policy'],
                             'busy_timeout': self.options['busy_timeout'], 'down_timeout': self.options['down_timeout'],
                             'reboot_timeout': self.options['reboot_timeout'],
                             'registration_timeout': self.options['registration_timeout'],
                             'poll_interval': self.options['poll_interval'],
                             'max_fail_percent': self.args['max_fail_percent'], 'window': self.args['window'] or None,
                             'ledger': self.ledger.path}}


def reboot_junit(report):
    cases = []
    for phone in report['phones']:
        timings = phone['timings']
        case = {'name': phone['name'], 'classname': 'rolling_reboot.batch_%s' % (phone['batch'] or 'none'),
                'time': timings.get('registered_after') or timings.get('up_after') or 0}
        text = '%s (%s): %s%s. %s' % (phone['name'], phone['host'] or '', phone['outcome'],
                                      ' (%s)' % phone['reason'] if phone['reason'] else '', phone['error'] or phone['note'] or '')
        if phone['outcome'] in PROBLEM_OUTCOMES:
            case['failure'] = {'type': phone['reason'] or phone['outcome'], 'message': phone['error'] or phone['outcome'],
                               'text': text}
        elif phone['outcome'] in ('skipped_busy', 'not_attempted'):
            case['skipped'] = '%s: %s' % (phone['outcome'], phone['note'] or '')
        elif phone['note']:
            case['output'] = phone['note']
        cases.append(case)
    summary = report['summary']
    properties = [('run_id', summary['run_id']), ('stopped_reason', summary['stopped_reason'] or '')]
    return junit_xml('rolling_reboot', cases, timestamp=summary['finished_at'], properties=properties)


CSV_COLUMNS = (
    ('name', 'name'), ('host', 'host'), ('outcome', 'outcome'), ('batch', 'batch'),
    ('down_after', lambda row: row['timings'].get('down_after')), ('up_after', lambda row: row['timings'].get('up_after')),
    ('registered_after', lambda row: row['timings'].get('registered_after')),
    ('busy_wait', lambda row: row['timings'].get('busy_wait')), ('error', 'error'), ('note', 'note'),
    ('reason', 'reason'), ('error_class', 'error_class'),
)


def write_reports(report, directory, formats):
    if not os.path.isdir(directory):
        os.makedirs(directory)
    files = {}
    for kind in formats:
        path = os.path.join(directory, REPORT_NAMES[kind])
        if kind == 'json':
            write_json(path, report)
        elif kind == 'junit':
            write_atomic(path, reboot_junit(report))
        else:
            write_atomic(path, csv_text(report['phones'], CSV_COLUMNS))
        files[kind] = path
    return files


def summary_sentence(summary, problem_names, limit=10):
    total = summary['total']
    text = 'Rolling reboot %s: %d of %d phone%s rebooted' % (summary['run_id'], summary['rebooted'], total,
                                                             '' if total == 1 else 's')
    others = ['%d %s' % (summary[outcome], outcome) for outcome in OUTCOMES[1:] if summary[outcome]]
    if others:
        text += ', ' + ', '.join(others)
    text += '.'
    problem_reasons = dict((reason, count) for reason, count in summary['reasons'].items()
                           if reason not in (REASON_BUSY, REASON_CANARY, REASON_MAX_FAIL, REASON_WINDOW, REASON_CHECK_MODE))
    if problem_reasons:
        text += ' Reasons: %s.' % ', '.join('%s %d' % item for item in sorted(problem_reasons.items()))
    if summary['check_mode']:
        text += ' Check mode: nothing was sent.'
    if summary['stopped_reason'] == STOP_WINDOW:
        text += ' Stopped for the maintenance window: %s' % summary['stop_message']
    elif summary['stopped_reason']:
        text += ' Stopped: %s' % summary['stop_message']
    if problem_names:
        text += ' Problem phones: %s.' % name_list(problem_names, limit)
    return text


def reboot_options(args):
    """The sys_operation reboot options (module_utils/reboot.check_options) from the task's; raises ValueError."""
    return check_options({
        'operation': 'reboot', 'wait': True, 'busy_policy': args['busy_policy'],
        'busy_timeout': args['busy_timeout'], 'down_timeout': args['down_timeout'],
        'reboot_timeout': args['reboot_timeout'], 'registration_timeout': args['registration_timeout'],
        'connect_timeout': args['connect_timeout'], 'poll_interval': args['poll_interval'],
    })


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check_args(self, args):
        if args['batch_pause'] < 0:
            raise AnsibleActionFail('batch_pause must be a number of seconds, not %g.' % args['batch_pause'])
        if not 0 <= args['max_fail_percent'] <= 100:
            raise AnsibleActionFail('max_fail_percent must be from 0 to 100, not %g.' % args['max_fail_percent'])
        try:
            parse_batch_size(args['batch_size'], 100, 'batch_size')
            if has_canary(args['canary']):
                parse_batch_size(args['canary'], 100, 'canary')
            reboot_options(args)
            if args['window']:
                Window(args['window'])
            if args['run_id']:
                check_run_id(args['run_id'])
        except ValueError as exc:
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))

    def run_fleet(self, args, targets):
        options = reboot_options(args)
        state_dir = os.path.abspath(args['state_dir'])
        check_mode = bool(self._task.check_mode)
        window = Window(args['window']) if args['window'] else None
        lock = None
        try:
            run_id = check_run_id(args['run_id'] or default_run_id(window))
            if not check_mode:
                # First the lock, then the ledger: a run that waited for another one must see what that one wrote.
                # A worker left over from a killed ansible-playbook stops within a poll; give it that time.
                lock = RunLock(state_dir, run_id).acquire(timeout=2 * (options['poll_interval'] + options['connect_timeout']) + 5)
            ledger = Ledger(state_dir, run_id)
        except ValueError as exc:
            if lock is not None:
                lock.release()
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))
        run = RollingReboot(targets, args, options, check_mode, self._display.display, ledger, window)
        try:
            report = run.run()
        except ControllerGone as exc:
            raise AnsibleActionFail(str(exc))
        except (IOError, OSError) as exc:
            raise AnsibleActionFail('The rolling reboot %s stopped: its ledger %s could not be written (%s). Phones whose '
                                    'command went out are in the ledger as it was last written; to resume, %s.'
                                    % (run_id, ledger.path, exc.strerror or exc, resume_hint(run_id)))
        finally:
            if lock is not None:
                lock.release()
        summary = report['summary']
        problems = [phone['name'] for phone in report['phones'] if phone['outcome'] in PROBLEM_OUTCOMES]

        report_files = {}
        if args['report_dir']:
            report_dir = os.path.abspath(args['report_dir'])
            try:
                report_files = write_reports(report, report_dir, args['report_formats'])
            except OSError as exc:
                where = exc.filename or report_dir
                raise AnsibleActionFail('The rolling reboot ran (%d rebooted, %d failed) but its reports could not be written: '
                                        '%s: %s.' % (summary['rebooted'], summary['failed'], where, exc.strerror or exc))
        msg = summary_sentence(summary, problems)
        if report_files:
            msg += ' Report: %s.' % report_files.get('json', sorted(report_files.values())[0])
        result = dict(
            changed=run.changed,
            summary=summary, problems=problems, stopped_reason=summary['stopped_reason'], run_id=summary['run_id'],
            plan=report['plan'], ledger=ledger.path, report_files=report_files, msg=msg,
        )
        if args['return_phones']:
            result['phones'] = report['phones']
        return result
