# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling-change policy that needs no phone: the engine's outcomes and reasons, batch sizes, batches, duplicates,
the maintenance window, the fail limit and run ids.  Everything here is a pure function of its arguments.

The outcome words of a kind of change (``rebooted``, ``already_done``...) belong to its Change (``change_reboot``);
the CTI error classes to ``module_utils/cti.py``; ``not_attempted`` and ``interrupted`` to ``fanout.py``.
"""

import datetime
import math
import re

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import INTERRUPTED

# What happened to a phone, whatever the change (the ``outcome`` of its report row), besides the change's own words
# and the CTI error classes unreachable and auth_failed (a phone that failed its preflight with those classes).
SKIPPED_BUSY = 'skipped_busy'

# Why a phone was not changed (the ``reason`` of its row, None when it was), besides the CTI error classes
# (unreachable, auth_failed, locked, forbidden, error, rejected) and the reasons of the change's proof (never_down,
# never_up, unregistered for a reboot).
REASON_DUPLICATE = 'duplicate'    # another inventory name of the run has the same address
REASON_VARIABLES = 'variables'    # its connection variables are unusable
REASON_UNVERIFIED = 'unverified'  # its change went out before an interruption and nobody saw it restart
REASON_BUSY = 'busy'              # in a call (skipped_busy)
REASON_CANARY = 'canary'          # not_attempted: the canary batch failed
REASON_MAX_FAIL = 'max_fail'      # not_attempted: too many failures
REASON_WINDOW = 'window'          # not_attempted: the maintenance window closed
REASON_CHECK_MODE = 'check_mode'  # not_attempted: check mode
# not_attempted (never reached) or failed (its change was on its way): the run was interrupted (Ctrl-C, SIGTERM,
# ansible-playbook killed); fanout.INTERRUPTED.
REASON_INTERRUPTED = INTERRUPTED
# Why a run stopped before its last batch (``stopped_reason``), and the reason its phones not attempted get.
STOP_CANARY = 'canary'
STOP_MAX_FAIL = 'max_fail_percent'
STOP_WINDOW = 'window'
STOP_INTERRUPTED = INTERRUPTED
STOP_REASONS = {STOP_CANARY: REASON_CANARY, STOP_MAX_FAIL: REASON_MAX_FAIL, STOP_WINDOW: REASON_WINDOW,
                STOP_INTERRUPTED: REASON_INTERRUPTED}
# Reasons that are a decision of the run, not a problem of the phone.
POLICY_REASONS = (REASON_BUSY, REASON_CANARY, REASON_MAX_FAIL, REASON_WINDOW, REASON_CHECK_MODE, REASON_INTERRUPTED)

# \Z, not $: "$" also matches before a final newline, and a run id names a file.
_RUN_ID_RE = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z')
_WINDOW_RE = re.compile(r'^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$')


def parse_batch_size(value, total, name='batch_size'):
    """A count (``20``, ``"20"``) or a percentage of ``total`` phones (``"10%"``, rounded up); at least 1."""
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


def phone_key(host, port):
    """The ledger key of the phone at ``host``:``port``: the address is the phone, whatever its inventory name."""
    host = str(host).strip().lower()
    return '[%s]:%s' % (host, port) if ':' in host else '%s:%s' % (host, port)


def first_of_duplicates(targets):
    """``{name: first name}`` for every target whose address (host, port) an earlier target of the list has.

    Targets without a connection (``port`` None) are not compared: they are never contacted.
    """
    first, duplicates = {}, {}
    for target in targets:
        if target.port is None:
            continue
        key = phone_key(target.host, target.port)
        if key in first:
            duplicates[target.name] = first[key]
        else:
            first[key] = target.name
    return duplicates


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
    """The run id, checked (it names the ledger file); raises ValueError."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise ValueError('run id must be 1-128 letters, digits, ".", "_" or "-" (it names the ledger file), not %r' % (run_id,))
    return run_id


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


def has_canary(value):
    """Whether the canary option asks for a canary batch (0, "0%" and empty do not)."""
    return str(value if value is not None else '').strip() not in ('', '0', '0%')


def resume_hint(run_id, run_id_variable):
    """How to resume a run: ``run_id_variable`` is the role's variable (``rolling_reboot_run_id``)."""
    return 'run again with the same run id (-e %s=%s with the role or the playbook)' % (run_id_variable, run_id)
