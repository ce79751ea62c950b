# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling-reboot policy that needs no phone: batch sizes, the plan, the maintenance window, the ledger.

The ledger is what makes a run resumable: a phone is marked ``sending`` (durably, on disk)
before its reboot command goes out, and gets its outcome afterwards.  A re-run with the
same run id never sends a second command to a phone marked ``sending`` or ``rebooted``.
"""

import datetime
import json
import math
import os
import re
import tempfile
import time

OUTCOMES = ('rebooted', 'already_done', 'skipped_busy', 'failed', 'unreachable', 'auth_failed', 'not_attempted')
LEDGER_SENDING = 'sending'
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
