# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling-reboot policy that needs no phone: batch sizes, the plan, the maintenance window, the ledger.

The ledger is what makes a run resumable: a phone is marked ``sending`` (durably, on disk)
before its reboot command goes out, and gets its outcome afterwards.  A re-run with the
same run id never sends a second command to a phone marked ``sending`` or ``rebooted``.
"""

import datetime
import errno
import json
import math
import os
import re
import tempfile
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import (
    DOWN, REGISTERED, SENT, UP, RebootWatch,
)

OUTCOMES = ('rebooted', 'already_done', 'skipped_busy', 'failed', 'unreachable', 'auth_failed', 'not_attempted')
LEDGER_SENDING = 'sending'   # written (durably) before the command goes out
LEDGER_SENT = 'sent'         # the command went out (answered or dropped)
LEDGER_REBOOTED = 'rebooted'
LEDGER_FAILED = 'failed'
LEDGER_PENDING = 'pending'   # marked sending, but the last-moment check found a call: nothing was sent
# Problem outcomes: the ones that fail the play (with fail_on_problems) and that set_stats lists.
PROBLEM_OUTCOMES = ('failed', 'unreachable', 'auth_failed')
_RUN_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
_WINDOW_RE = re.compile(r'^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$')


def parse_batch_size(value, total, name='batch_size'):
    """A count (``20``, ``"20"``) or a percentage of the phones (``"10%"``); at least 1."""
    text = str(value).strip()
    try:
        if text.endswith('%'):
            percent = float(text[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            return max(1, int(math.ceil(total * percent / 100.0)))
        count = int(text)
        if count < 1:
            raise ValueError
        return count
    except ValueError:
        raise ValueError('%s must be a positive count or a percentage like "10%%", not %r' % (name, value))


def plan_batches(names, batch_size, canary=None):
    """Split phone names into batches; an optional canary batch of its own size comes first."""
    names = list(names)
    batches = []
    if canary:
        batches.append(names[:canary])
        names = names[canary:]
    for start in range(0, len(names), batch_size):
        batches.append(names[start:start + batch_size])
    return [batch for batch in batches if batch]


class Window(object):
    """A daily maintenance window in controller local time, e.g. ``"01:00-05:00"`` (may cross midnight)."""

    def __init__(self, text):
        match = _WINDOW_RE.match(text or '')
        if not match:
            raise ValueError('window must look like "01:00-05:00" (24-hour controller local time), not %r' % (text,))
        hour1, minute1, hour2, minute2 = (int(part) for part in match.groups())
        self.start = hour1 * 60 + minute1
        self.end = hour2 * 60 + minute2
        if self.start == self.end:
            raise ValueError('window %r is empty: start and end are the same' % (text,))
        self.text = text.strip()

    def opened_on(self, now=None):
        """The date on which the window containing ``now`` opened (yesterday after midnight in a 22:00-02:00 window)."""
        now = now or datetime.datetime.now()
        minute = now.hour * 60 + now.minute
        if self.start > self.end and minute < self.end:
            return (now - datetime.timedelta(days=1)).date()
        return now.date()

    def is_open(self, now=None):
        now = now or datetime.datetime.now()
        minute = now.hour * 60 + now.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def check_run_id(run_id):
    if not _RUN_ID_RE.match(str(run_id or '')):
        raise ValueError('run id must be 1-128 letters, digits, ".", "_" or "-" (it names the ledger file), not %r' % (run_id,))
    return str(run_id)


class Ledger(object):
    """Per-run state on disk: ``{"run_id", "phones": {name: {"state", "batch", ...}}}``.

    Every save writes a temporary file, fsyncs it and renames it over the ledger, so a run
    killed at any moment leaves either the old or the new ledger, never half of one.
    """

    def __init__(self, state_dir, run_id):
        self.run_id = check_run_id(run_id)
        self.path = os.path.join(state_dir, '%s.json' % self.run_id)
        self.data = {'run_id': self.run_id, 'created': time.time(), 'phones': {}}
        if os.path.exists(self.path):
            try:
                with open(self.path) as handle:
                    loaded = json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise ValueError('cannot read the rolling reboot ledger %s: %s' % (self.path, exc))
            if not isinstance(loaded, dict) or not isinstance(loaded.get('phones'), dict):
                raise ValueError('%s is not a rolling reboot ledger' % self.path)
            self.data = loaded

    @property
    def resumed(self):
        return bool(self.data['phones'])

    def state(self, name):
        return self.data['phones'].get(name, {}).get('state')

    def entry(self, name):
        return self.data['phones'].get(name, {})

    def update(self, name, **fields):
        self.data['phones'].setdefault(name, {}).update(fields)

    def save(self):
        directory = os.path.dirname(self.path) or '.'
        if not os.path.isdir(directory):
            os.makedirs(directory)
        handle, temporary = tempfile.mkstemp(prefix='.%s.' % self.run_id, dir=directory)
        try:
            with os.fdopen(handle, 'w') as stream:
                json.dump(self.data, stream, indent=1, sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.rename(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise


class RunLock(object):
    """An exclusive lock on one run id (``<state_dir>/<run_id>.lock``), held for the whole run.

    Two runs with the same id (a cron job that overlaps the previous one, a re-run while the worker of a
    killed ansible-playbook is still finishing) would both read the ledger and could both send commands.
    The lock is released by the kernel when the process ends, however it ends.  POSIX only (fcntl).
    """

    def __init__(self, state_dir, run_id):
        self.path = os.path.join(state_dir, '%s.lock' % check_run_id(run_id))
        self.handle = None

    def acquire(self, timeout=0.0, sleep=time.sleep):
        """Take the lock, waiting up to ``timeout`` seconds; raises ValueError when another process holds it."""
        # POSIX only: imported where it is needed.
        import fcntl  # pylint: disable=import-outside-toplevel
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory)
        handle = open(self.path, 'a+')
        deadline = time.monotonic() + max(0.0, float(timeout))
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    handle.close()
                    raise
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or 'unknown'
                    handle.close()
                    raise ValueError('another rolling reboot with the same run id is running (process %s holds %s); '
                                     'wait for it to finish or stop it' % (holder, self.path))
                sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write('%d\n' % os.getpid())
        handle.flush()
        self.handle = handle
        return self

    def release(self):
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None


def default_run_id(window=None, now=None):
    """The run id when the user gives none: the controller's local date, ``YYYY-MM-DD``.

    Inside a window that crosses midnight (``22:00-02:00``) it is the date the window opened,
    so one night is one run id.  Resume a run on a later night by passing its id again.
    """
    now = now or datetime.datetime.now()
    day = window.opened_on(now) if window is not None else now.date()
    return day.strftime('%Y-%m-%d')


def fail_limit_exceeded(failed, attempted, max_fail_percent):
    """True when more than ``max_fail_percent`` percent of the phones attempted so far failed (0: any failure)."""
    if not attempted or not failed:
        return False
    return 100.0 * failed / attempted > float(max_fail_percent)


def command_may_have_gone_out(entry):
    """Whether the ledger entry of a phone says a reboot command may have reached it in this run.

    Such a phone is never sent another command under the same run id: it is verified instead.
    """
    state = entry.get('state')
    if state in (LEDGER_SENDING, LEDGER_SENT):
        return True
    return state == LEDGER_FAILED and bool(entry.get('sent'))


def duration_text(seconds):
    """``45s``, ``3m05s``, ``2h04m``."""
    seconds = int(round(max(0.0, float(seconds))))
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % (seconds // 60, seconds % 60)
    return '%dh%02dm' % (seconds // 3600, (seconds % 3600) // 60)


class ResumedWatch(RebootWatch):
    """Verifies a phone whose reboot command may have gone out before the run was interrupted; sends nothing.

    ``sent_ago``: seconds since the command was (maybe) sent, from the ledger; the watch's clock starts
    then, so a phone still down long after ``reboot_timeout`` fails at the first probe.
    On the first answers:

    - down: it is rebooting; wait for it to come back and register as usual;
    - up, an expected account not registered: it is back (or never went down); wait ``registration_timeout``;
    - up and registered: if the command went out less than ``down_timeout`` ago, the phone may still be
      saving its settings, so keep watching for it to go down; otherwise (or when that time passes while it
      stays up and registered) it counts as rebooted, ``verified_after_resume`` (CTI cannot tell whether it
      restarted during the interruption).
    """

    def __init__(self, connection, registered_before, sent_ago=0.0, **kwargs):
        super(ResumedWatch, self).__init__(connection, registered_before, **kwargs)
        self.started -= max(0.0, float(sent_ago or 0.0))
        self.next_poll_at = self._clock()  # look at once
        self.verified_after_resume = False

    def _after_sent(self, seen, since):
        if not seen.reachable:
            self._advance(DOWN, 'down_after', since)
            self._after_down(seen, since)  # still down after reboot_timeout: fails now
            return
        registered = seen.registered is not None and set(self.expected) <= set(seen.registered)
        if seen.registered is not None:
            self.registered = list(seen.registered)
        if not registered and (self.expected or seen.registered is None):
            # Back already, or it never went down: either way its accounts must register within registration_timeout.
            self.post_reboot_delay = 0.0
            self._advance(UP, 'up_after', since)
            return
        if since >= min(self.down_timeout, self.reboot_timeout):
            self.state = REGISTERED
            self.done = True
            self.verified_after_resume = True

    def _schedule(self, since):
        if self.state == SENT:
            # Never fail NEVER_DOWN here: up and registered at the deadline means verified.
            self.next_poll_at = self.started + max(since, min(since + self.poll_interval, self.down_timeout, self.reboot_timeout))
            return
        super(ResumedWatch, self)._schedule(since)
