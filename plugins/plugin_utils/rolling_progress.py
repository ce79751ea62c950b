# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rolling run tells people while it runs: the plan, progress inside a batch (phones going down, coming back,
finishing; each failure as it happens), one line per batch with the ETA."""

import signal

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import SKIPPED_BUSY
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import duration_text, name_list, plural

# Inside a batch: a line when a step is reached by every phone still in the race, else, while something changes, at
# most every this many seconds (or three poll intervals, when shorter).  Failures are named at once.
PROGRESS_EVERY = 15.0


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except (ValueError, TypeError):
        return 'signal %s' % signum


def batch_label(number, planned, canary=False):
    """``Batch 3 of 5``; the plan's count never changes during a run: batches beyond it (phones that were in a call
    when their turn came) are extra."""
    if number <= planned:
        label = 'Batch %d of %d' % (number, planned)
    else:
        label = 'Extra batch %d (the plan had %d: phones that were in a call when their turn came)' % (number, planned)
    return label + (' (canary)' if canary else '')


def plan_text(run, eligible, check, batches):
    """Print the plan before the first batch; returns it as the report's ``plan``."""
    change, settings = run.change, run.settings
    phones = run.phones
    before = [phone for phone in phones if phone.before_command]
    busy = [phone for phone in eligible if phone.busy_since is not None]
    per_batch = change.max_seconds()
    worst = len(batches) * per_batch + max(0, len(batches) - 1) * settings.batch_pause
    window = settings.window
    plan = {'eligible': len(eligible), 'batches': len(batches), 'batch_size': run.batch_size, 'canary': run.canary,
            'verify_first': len(check), 'busy_deferred': len(busy), 'max_seconds_per_batch': per_batch,
            'max_seconds': worst, 'batches_planned': run.planned}
    text = ('%s %s: %s, %d to %s in %s of up to %d%s, pause %s between batches; '
            % (change.title, run.run_id, plural(len(phones), 'phone'), len(eligible), change.verb,
               plural(len(batches), 'batch', 'batches'), run.batch_size,
               ' (canary batch of %d first)' % run.canary if run.canary else '', duration_text(settings.batch_pause)))
    if batches and run.next_batch > 1 and not run.check_mode:
        text += 'batches %d to %d of the run%s; ' % (run.next_batch, run.next_batch + len(batches) - 1, (
            ', which planned %d batches: this attempt needs more (more phones, or a batch left half sent)'
            % run.replanned_from) if run.replanned_from else '')
    text += ('each batch takes at most %s (%s), the run at most %s; a typical ETA, from the measured batch times, is '
             'printed after the first batch.' % (duration_text(per_batch), change.batch_bound, duration_text(worst)))
    details = []
    if busy:
        details.append('%s in a call moved to the last batches (busy_policy=wait)' % plural(len(busy), 'phone'))
    if check:
        details.append('%s whose change went out before an interruption checked first, not sent again'
                       % plural(len(check), 'phone'))
    done = sum(1 for phone in phones if phone.earlier and phone.outcome == change.done_earlier)
    if done:
        details.append('%d %s earlier in this run' % (done, change.done))
    failed_earlier = [phone for phone in phones if phone.earlier and phone.outcome != change.done_earlier]
    if failed_earlier:
        details.append('%d failed earlier in this run, final for this run id: %s' % (len(failed_earlier), name_list(
            '%s (%s)' % (phone.name, phone.reason) for phone in failed_earlier)))
    if before:
        details.append('%d failed the preflight and get nothing: %s' % (len(before), name_list(
            '%s (%s)' % (phone.name, phone.reason) for phone in before)))
    skipped = run.count(SKIPPED_BUSY)
    if skipped:
        details.append('%d skipped: in a call (busy_policy=skip)' % skipped)
    for outcome in change.own_outcomes:
        count = sum(1 for phone in phones if phone.outcome == outcome and not phone.earlier)
        if count:
            details.append('%d %s' % (count, outcome.replace('_', ' ')))
    if details:
        text += ' ' + '; '.join(details) + '.'
    if window:
        open_now = window.is_open(run.clock.local_now())
        plan['window_open'] = open_now
        text += ' Maintenance window %s (controller local time)' % window.text
        if not open_now:
            text += (', closed now (%s): a run started now would %s nothing and stop at once'
                     % (run.clock.local_now().strftime('%H:%M'), change.verb))
        text += '.'
    text += ' Ledger: %s.' % run.ledger.path
    if run.check_mode:
        text += ' Check mode: nothing is sent.'
    run.say(text)
    return plan


def progress_line(run, label, batch, started):
    """The line that ends a batch: what the batch did, what the run did so far, the elapsed time and the ETA."""
    change, clock = run.change, run.clock
    sent = [phone for phone in batch if phone.attempted]
    elapsed = clock.monotonic() - run.started
    remaining = sum(1 for phone in run.phones if phone.outcome is None)
    average = sum(run.batch_seconds) / len(run.batch_seconds) if run.batch_seconds else 0.0
    left_batches = -(-remaining // run.batch_size) if remaining else 0
    eta = left_batches * (average + run.settings.batch_pause)
    so_far = ', '.join('%d %s' % (run.count(outcome), outcome.replace('_', ' ')) for outcome in change.outcomes
                       if outcome != NOT_ATTEMPTED)
    return ('%s: %d sent, %d %s, %d failed in %s. So far %s; %d to go. Elapsed %s, ETA %s.'
            % (label, len(sent), sum(1 for phone in sent if phone.outcome == change.done), change.done,
               sum(1 for phone in sent if phone.outcome not in (None, change.done)), duration_text(clock.monotonic() - started),
               so_far, remaining, duration_text(elapsed), duration_text(eta)))


def problem_line(label, phone):
    """A failure or a skip, named as it happens: ``Batch 2 of 5: failed (never_up): gs0042 (10.1.4.42): ...``."""
    return '%s: %s%s: %s' % (label, phone.outcome, ' (%s)' % phone.reason if phone.reason else '',
                             phone.error or phone.note or phone.name)


class BatchProgress(object):
    """Progress lines while the proofs of a batch run: how many phones reached each step of the proof (the change's
    ``proof_steps``: down, back, registered for a reboot) and how many failed."""

    def __init__(self, run, label):
        self.run = run
        self.label = label
        self.watched = []
        self.said = None
        self.started = self.said_at = run.clock.monotonic()
        self.every = min(PROGRESS_EVERY, 3 * run.settings.poll_interval)
        self.complete = set()

    def watch(self, phones):
        self.watched = list(phones)
        self.said_at = self.run.clock.monotonic()

    def update(self, pending):
        """After each look: a line when a step is complete, or when something changed since the last line and
        ``every`` seconds passed."""
        if not pending or not self.watched:
            return  # the batch's own line follows
        counts = [(step, sum(1 for phone in self.watched if phone.proof.timings.get(key) is not None))
                  for step, key in self.run.change.proof_steps]
        failed = sum(1 for phone in self.watched if phone.proof.done and not phone.proof.ok)
        alive = len(self.watched) - failed
        newly_complete = [step for step, count in counts if alive and count >= alive and step not in self.complete]
        now = self.run.clock.monotonic()
        state = (tuple(counts), failed)
        if state == self.said or not (newly_complete or now - self.said_at >= self.every):
            return
        self.complete.update(newly_complete)
        self.said, self.said_at = state, now
        self.run.say('%s: of %s, %s, %d failed (%s since the batch started).' % (
            self.label, plural(len(self.watched), 'phone'), ', '.join('%d %s' % (count, step) for step, count in counts),
            failed, duration_text(now - self.started)))
