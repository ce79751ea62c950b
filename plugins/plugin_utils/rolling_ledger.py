# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot's durable state: the ledger of one run id and the lock of a state directory.

The ledger is what makes a run resumable.  Its entries are keyed by the phone's address (``host:port``: the
phone, whatever its inventory name), and go through these states::

    (none) --line check idle--> sending --request answered or dropped--> sent --check--> rebooted | failed

``sending`` is on disk (fsynced) before the request leaves; while a phone is checked, the moment it is
first seen down is recorded too (``seen_down``).  A re-run with the same run id decides what to do with
each phone from its entry alone (:func:`resume_action`) and never sends a second command to a phone whose
command went out, or may have.
"""

import errno
import json
import math
import os
import threading
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.durable import write_atomic
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import check_run_id, phone_key

LEDGER_VERSION = 2
LEDGER_SENDING = 'sending'   # written (durably) right before the request leaves
LEDGER_SENT = 'sent'         # the request went out (answered or dropped)
LEDGER_REBOOTED = 'rebooted'
LEDGER_FAILED = 'failed'
LEDGER_PENDING = 'pending'   # nothing was sent (0.1.0 wrote it when the last look found a call)
LEDGER_STATES = (LEDGER_SENDING, LEDGER_SENT, LEDGER_REBOOTED, LEDGER_FAILED, LEDGER_PENDING)

# What a re-run does with a phone, from its ledger entry (resume_action).
RESUME_DONE = 'done'      # rebooted earlier in the run: already_done, not contacted
RESUME_FAILED = 'failed'  # its check finished and failed: failed again with the recorded reason, nothing sent
RESUME_CHECK = 'check'    # its command went out (or may have) and its check never finished: check it, send nothing
RESUME_PLAN = 'plan'      # nothing went out: planned like any phone

LOCK_NAME = 'rolling_reboot.lock'


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_OPTIONAL_FIELDS = (
    # field, check, what it must be
    ('name', lambda value: isinstance(value, str), 'a string'),
    ('batch', lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1, 'a batch number'),
    ('sending_at', _is_number, 'a time (seconds since the epoch)'),
    ('sent_at', _is_number, 'a time (seconds since the epoch)'),
    ('seen_down', _is_number, 'a time (seconds since the epoch)'),
    ('expected', lambda value: isinstance(value, list) and all(
        isinstance(item, (int, str)) and not isinstance(item, bool) for item in value), 'a list of account ids'),
    ('timings', lambda value: isinstance(value, dict) and all(
        item is None or _is_number(item) for item in value.values()), 'a dict of seconds'),
    ('sent', lambda value: isinstance(value, bool), 'true or false'),
    ('checked', lambda value: isinstance(value, bool), 'true or false'),
    ('reason', lambda value: isinstance(value, str), 'a string'),
    ('failure', lambda value: isinstance(value, str), 'a string'),
    ('error', lambda value: isinstance(value, str), 'a string'),
    ('error_class', lambda value: isinstance(value, str), 'a string'),
    ('note', lambda value: isinstance(value, str), 'a string'),
)


def _entry_problem(key, entry, version):
    """What is wrong with one ledger entry, or None."""
    if not isinstance(entry, dict):
        return 'it is %s, not an object' % type(entry).__name__
    if entry.get('state') not in LEDGER_STATES:
        return 'its state is %r, not one of %s' % (entry.get('state'), ', '.join(LEDGER_STATES))
    for field, check, what in _OPTIONAL_FIELDS:
        if entry.get(field) is not None and not check(entry[field]):
            return '%s is %r, not %s' % (field, entry[field], what)
    if version == LEDGER_VERSION:
        if not isinstance(entry.get('host'), str) or not isinstance(entry.get('port'), int) or isinstance(entry.get('port'), bool):
            return 'it has no host and port'
        if phone_key(entry['host'], entry['port']) != key:
            return 'its host and port (%s:%s) are not its key' % (entry['host'], entry['port'])
    if resume_action(entry) == RESUME_CHECK and command_time(entry) is None:
        return 'its command went out but the ledger does not say when (sending_at, sent_at)'
    return None


class Ledger(object):
    """Per-run state on disk: ``{"version": 2, "run_id", "created", "phones": {"host:port": {"name", "state", ...}}}``.

    Every save writes a temporary file, fsyncs it, renames it over the ledger and fsyncs the directory, so a
    run killed at any moment (or a power loss) leaves either the old or the new ledger, never half of one.
    A ledger that does not read back as one (truncated, edited, another program's file) raises ValueError
    when it is loaded, before anything is sent.  Ledgers of 0.1.0 (entries keyed by inventory name, without
    a port) are read too; their entries are matched by name and host.

    Thread-safe: the phones of a batch each mark themselves ``sending`` and save from their own thread.
    """

    def __init__(self, state_dir, run_id):
        self.run_id = check_run_id(run_id)
        self.path = os.path.join(state_dir, '%s.json' % self.run_id)
        self.data = {'version': LEDGER_VERSION, 'run_id': self.run_id, 'created': time.time(), 'phones': {}}
        if os.path.exists(self.path):
            self.data = self._load()
        # Whether an earlier attempt of this run id wrote phones: read now, before this attempt writes any.
        self.resumed = bool(self.data['phones'])
        self._lock = threading.Lock()        # the data
        self._write_lock = threading.Lock()  # one write at a time
        self._changes = 0
        self._saved = 0

    def _load(self):
        recover = ('To start run %s over, move the file away: the run id then starts fresh and reboots every phone '
                   'again (or use a new run id); to resume it, put back a good copy' % self.run_id)
        try:
            with open(self.path) as handle:
                loaded = json.load(handle)
        except (IOError, OSError, ValueError) as exc:
            raise ValueError('cannot read the rolling reboot ledger %s: %s. %s' % (self.path, exc, recover))
        if not isinstance(loaded, dict) or not isinstance(loaded.get('phones'), dict):
            raise ValueError('%s is not a rolling reboot ledger (no "phones" object). %s' % (self.path, recover))
        version = loaded.get('version')
        if version not in (None, LEDGER_VERSION):
            raise ValueError('the rolling reboot ledger %s has version %r, which this collection does not know. %s'
                             % (self.path, version, recover))
        if loaded.get('run_id') not in (None, self.run_id):
            raise ValueError('the rolling reboot ledger %s belongs to run id %r, not %s. %s'
                             % (self.path, loaded.get('run_id'), self.run_id, recover))
        for key, entry in loaded['phones'].items():
            problem = _entry_problem(key, entry, version)
            if problem:
                raise ValueError('the rolling reboot ledger %s has a bad entry %r: %s. %s' % (self.path, key, problem, recover))
        loaded.setdefault('run_id', self.run_id)
        return loaded

    def find(self, name, host, port):
        """The key of the entry of the phone at ``host``:``port``, or None.  A 0.1.0 entry matches by name and host."""
        key = phone_key(host, port)
        if key in self.data['phones']:
            return key
        old = self.data['phones'].get(name)
        if isinstance(old, dict) and str(old.get('host', '')).lower() == str(host).lower() and old.get('port') in (None, port):
            return name
        return None

    def entry(self, key):
        with self._lock:
            return dict(self.data['phones'].get(key) or {})

    def entries(self):
        with self._lock:
            return [dict(entry) for entry in self.data['phones'].values()]

    def state(self, key):
        return self.entry(key).get('state')

    def get(self, field, default=None):
        return self.data.get(field, default)

    def set(self, field, value):
        with self._lock:
            self.data[field] = value
            self._changes += 1

    def put(self, key, entry):
        """Replace the entry of ``key`` (nothing of an earlier entry is kept)."""
        with self._lock:
            self.data['phones'][key] = dict(entry)
            self._changes += 1

    def update(self, key, **fields):
        with self._lock:
            self.data['phones'].setdefault(key, {}).update(fields)
            self._changes += 1

    def save(self):
        """Write the ledger to disk; on return every change made before the call is durable.

        Callers in several threads share writes: a save that starts after another thread's change writes that
        change too, so the phones of a batch cost a few writes, not one each.
        """
        with self._lock:
            wanted = self._changes
        with self._write_lock:
            if self._saved >= wanted:
                return
            with self._lock:
                text = json.dumps(self.data, indent=1, sort_keys=True)
                changes = self._changes
            write_atomic(self.path, text)
            self._saved = changes


def command_time(entry):
    """When the phone's command went out (``sent_at``), or was about to (``sending_at``); None when unknown."""
    for field in ('sent_at', 'sending_at'):
        if _is_number(entry.get(field)):
            return float(entry[field])
    return None


def resume_action(entry):
    """What a re-run of the same run id does with a phone, from its ledger entry (``{}`` when it has none).

    A failure that a finished check recorded is final for the run id (only a new run id reboots the phone
    again).  A phone whose command went out, or may have, and whose check never finished is checked, never
    sent a second command.  Nothing else went out: a refused command, a failed line check, no entry.
    """
    state = entry.get('state')
    if state == LEDGER_REBOOTED:
        return RESUME_DONE
    if state in (LEDGER_SENDING, LEDGER_SENT):
        return RESUME_CHECK
    if state == LEDGER_FAILED:
        if entry.get('checked') or entry.get('failure'):  # 'failure': a check's failure, as 0.1.0 wrote it
            return RESUME_FAILED
        return RESUME_CHECK if entry.get('sent') else RESUME_PLAN
    return RESUME_PLAN


class RunLock(object):
    """One rolling reboot at a time per state directory (``<state_dir>/rolling_reboot.lock``), held for the whole run.

    Two runs from one state directory (a cron job that overlaps the previous one, a re-run while the worker of a
    killed ansible-playbook is still finishing, two run ids over the same phones) would reboot phones at the same
    time, and two runs of one run id would both work from the same ledger.  Runs over different fleets at the same
    time need different state directories.  The kernel releases the lock when the process ends, however it ends.
    POSIX only (fcntl).
    """

    def __init__(self, state_dir, run_id):
        self.path = os.path.join(state_dir, LOCK_NAME)
        self.state_dir = state_dir
        self.run_id = check_run_id(run_id)
        self.handle = None

    def acquire(self, timeout=0.0, sleep=time.sleep):
        """Take the lock, waiting up to ``timeout`` seconds; raises ValueError when another process holds it."""
        # POSIX only: imported where it is needed.
        import fcntl  # pylint: disable=import-outside-toplevel
        if not os.path.isdir(self.state_dir):
            os.makedirs(self.state_dir)
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
                    holder = handle.read().split()
                    handle.close()
                    pid = holder[0] if holder else 'unknown'
                    other = holder[1] if len(holder) > 1 else 'unknown'
                    raise ValueError(
                        'another rolling reboot (run id %s, process %s) is running from the state directory %s; wait for '
                        'it to finish or stop it. Runs over different fleets at the same time need different state '
                        'directories (state_dir, rolling_reboot_state_dir)' % (other, pid, self.state_dir))
                sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write('%d %s\n' % (os.getpid(), self.run_id))
        handle.flush()
        self.handle = handle
        return self

    def release(self):
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None
