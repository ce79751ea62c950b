# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durable state of a rolling run: the ledger of one run id (:class:`Ledger`) and what a re-run does with each
phone (:func:`resume_action`).

The ledger is what makes a run resumable.  It records the kind of change (a run id never resumes under another kind);
its entries are keyed by the phone's address (``host:port``: the phone, whatever its inventory name), and go through
these states::

    (none) --line check idle--> sending --request answered or dropped--> sent --proof--> <done> | failed

``<done>`` is the change's done outcome (``rebooted`` for the reboot).  ``sending`` is on disk (fsynced) before the
request leaves; while a phone's proof runs, the moment it is first seen going down is recorded too (``seen_down``).  A
re-run with the same run id decides what to do with each phone from its entry alone (:func:`resume_action`) and never
sends a second change to a phone whose change went out, or may have.  The engine writes an entry as one projection of
the phone (``RollingPhone.ledger_entry``).
"""

import json
import math
import threading
import time
import os

from ansible_collections.phonefleet.grandstream.plugins.module_utils.durable import write_atomic
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import ResumePoint
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import check_run_id, phone_key
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_state import (
    StateDirectory, os_error_words, state_file_error,
)

LEDGER_VERSION = 2
LEDGER_SENDING = 'sending'   # written (durably) right before the request leaves
LEDGER_SENT = 'sent'         # the request went out (answered or dropped)
LEDGER_FAILED = FAILED        # the outcome word: its change failed (sent or not, checked or not)
LEDGER_PENDING = 'pending'   # nothing was sent (0.1.0 wrote it when the last look found a call)
LEDGER_STATES = (LEDGER_SENDING, LEDGER_SENT, LEDGER_FAILED, LEDGER_PENDING)  # and the change's done state

# What a re-run does with a phone, from its ledger entry (resume_action).
RESUME_DONE = 'done'      # changed earlier in the run: done_earlier, not contacted
RESUME_FAILED = 'failed'  # its proof finished and failed: failed again with the recorded reason, nothing sent
RESUME_CHECK = 'check'    # its change went out (or may have) and its proof never finished: check it, send nothing
RESUME_PLAN = 'plan'      # nothing went out: planned like any phone


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_OPTIONAL_FIELDS = (
    # field, check, what it must be
    ('name', lambda value: isinstance(value, str), 'a string'),
    ('batch', lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1, 'a batch number'),
    ('sending_at', _is_number, 'a time (seconds since the epoch)'),
    ('sent_at', _is_number, 'a time (seconds since the epoch)'),
    ('seen_down', _is_number, 'a time (seconds since the epoch)'),
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
ENGINE_FIELDS = ('state', 'host', 'port') + tuple(field for field, dummy, dummy2 in _OPTIONAL_FIELDS)


def _entry_problem(key, entry, version, names):
    """What is wrong with one ledger entry, or None.  The change's own fields (``names.field_checks``) are checked too:
    a hand-edited ledger stops the run before anything is sent."""
    if not isinstance(entry, dict):
        return 'it is %s, not an object' % type(entry).__name__
    states = LEDGER_STATES + (names.done,)
    if entry.get('state') not in states:
        return 'its state is %r, not one of %s' % (entry.get('state'), ', '.join(states))
    for field, check, what in _OPTIONAL_FIELDS + tuple(names.field_checks):
        if entry.get(field) is not None and not check(entry[field]):
            return '%s is %r, not %s' % (field, entry[field], what)
    if version == LEDGER_VERSION:
        if not isinstance(entry.get('host'), str) or not isinstance(entry.get('port'), int) or isinstance(entry.get('port'), bool):
            return 'it has no host and port'
        if phone_key(entry['host'], entry['port']) != key:
            return 'its host and port (%s:%s) are not its key' % (entry['host'], entry['port'])
    if resume_action(entry, names.done) == RESUME_CHECK and command_time(entry) is None:
        return 'its command went out but the ledger does not say when (sending_at, sent_at)'
    return None


class Ledger(object):
    """Per-run state on disk: ``{"version": 2, "kind", "run_id", "created", "phones": {"host:port": {"name", "state",
    ...}}}``.  ``names``: the change's LedgerKind (its kind, its title for sentences, its done state).

    Every save writes a temporary file, fsyncs it, renames it over the ledger and fsyncs the directory
    (``durable.write_atomic``), so a run killed at any moment (or a power loss) leaves either the old or the new
    ledger, never half of one.  A ledger that does not read back as one (truncated, edited, another program's file, a
    symbolic link, another kind of change) raises ValueError when it is loaded, before anything is sent.  Ledgers of
    0.1.0 (entries keyed by inventory name, without a port) are read too; their entries are matched by name and host.
    A ledger that records no kind was written by the rolling reboot (``LedgerKind.unrecorded``).

    Thread-safe: the phones of a batch each mark themselves ``sending`` and save from their own thread.  A save that
    fails raises StateFileError, a sentence naming the file.
    """

    def __init__(self, state_dir, run_id, names):
        self.run_id = check_run_id(run_id)
        self.names = names
        self.directory = StateDirectory(state_dir, create=False)
        self.file_name = '%s.json' % self.run_id
        self.path = self.directory.file_path(self.file_name)
        self.data = {'version': LEDGER_VERSION, 'kind': names.kind, 'run_id': self.run_id, 'created': time.time(),
                     'phones': {}}
        loaded = self._read()
        if loaded is not None:
            self.data = self._checked(loaded)
        # Whether an earlier attempt of this run id wrote phones: read now, before this attempt writes any.
        self.resumed = bool(self.data['phones'])
        self._lock = threading.Lock()        # the data
        self._write_lock = threading.Lock()  # one write at a time
        self._changes = 0
        self._saved = 0

    def _recover(self):
        return ('To start run %s over, move the file away: the run id then starts fresh and %ss every phone again (or use '
                'a new run id); to resume it, put back a good copy' % (self.run_id, self.names.title))

    def _read(self):
        """The ledger's JSON, or None when there is none; never through a symbolic link."""
        if not self.directory.opened:
            if not os.path.lexists(self.path):
                return None
            self.directory.open(create=False)
        try:
            descriptor = self.directory.open_file(self.file_name, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError('cannot read the %s ledger %s: %s. %s'
                             % (self.names.title, self.path, os_error_words(exc), self._recover()))
        try:
            with os.fdopen(descriptor, 'rb') as handle:
                return json.loads(handle.read().decode('utf-8'))
        except (OSError, ValueError) as exc:
            words = os_error_words(exc) if isinstance(exc, OSError) else str(exc)
            raise ValueError('cannot read the %s ledger %s: %s. %s' % (self.names.title, self.path, words, self._recover()))

    def _checked(self, loaded):
        title, recover = self.names.title, self._recover()
        if not isinstance(loaded, dict) or not isinstance(loaded.get('phones'), dict):
            raise ValueError('%s is not a %s ledger (no "phones" object). %s' % (self.path, title, recover))
        version = loaded.get('version')
        if version not in (None, LEDGER_VERSION):
            raise ValueError('the %s ledger %s has version %r, which this collection does not know. %s'
                             % (title, self.path, version, recover))
        if loaded.get('run_id') not in (None, self.run_id):
            raise ValueError('the %s ledger %s belongs to run id %r, not %s. %s'
                             % (title, self.path, loaded.get('run_id'), self.run_id, recover))
        kind = loaded.get('kind')
        if kind is None and loaded['phones'] and not self.names.unrecorded:
            kind = 'none recorded: an older ledger'
        if kind not in (None, self.names.kind):
            raise ValueError('the ledger %s of run id %s was written by another kind of change (%s), not a %s: a run id '
                             'never resumes under another kind. Use a new run id for the %s (or another state directory).'
                             % (self.path, self.run_id, kind, title, title))
        for key, entry in loaded['phones'].items():
            problem = _entry_problem(key, entry, version, self.names)
            if problem:
                raise ValueError('the %s ledger %s has a bad entry %r: %s. %s' % (title, self.path, key, problem, recover))
        loaded.setdefault('run_id', self.run_id)
        loaded.setdefault('kind', self.names.kind)
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

    def save(self):
        """Write the ledger to disk; on return every change made before the call is durable.

        Callers in several threads share writes: a save that starts after another thread's change writes that
        change too, so the phones of a batch cost a few writes, not one each.  Raises StateFileError.
        """
        with self._lock:
            wanted = self._changes
        with self._write_lock:
            if self._saved >= wanted:
                return
            with self._lock:
                text = json.dumps(self.data, indent=1, sort_keys=True)
                changes = self._changes
            try:
                self.directory.open(create=True)
                self.directory.check()
                # A rename replaces a symbolic link planted at the ledger's name; it never writes through it.
                write_atomic(self.path, text)
            except OSError as exc:
                raise state_file_error(exc, 'write the %s ledger' % self.names.title, self.path, (
                    'Phones whose change went out are in the ledger as it was last written.'))
            self._saved = changes

    def close(self):
        self.directory.close()


def command_time(entry):
    """When the phone's change went out (``sent_at``), or was about to (``sending_at``); None when unknown."""
    for field in ('sent_at', 'sending_at'):
        if _is_number(entry.get(field)):
            return float(entry[field])
    return None


def resume_action(entry, done):
    """What a re-run of the same run id does with a phone, from its ledger entry (``{}`` when it has none); ``done``
    is the change's done state.

    A failure that a finished proof recorded is final for the run id (only a new run id changes the phone again).
    A phone whose change went out, or may have, and whose proof never finished is checked, never sent a second
    change.  Nothing else went out: a refused change, a failed line check, no entry.
    """
    state = entry.get('state')
    if state == done:
        return RESUME_DONE
    if state in (LEDGER_SENDING, LEDGER_SENT):
        return RESUME_CHECK
    if state == LEDGER_FAILED:
        if entry.get('checked') or entry.get('failure'):  # 'failure': a check's failure, as 0.1.0 wrote it
            return RESUME_FAILED
        return RESUME_CHECK if entry.get('sent') else RESUME_PLAN
    return RESUME_PLAN


def own_fields(entry):
    """The change's own fields of an entry (what ``Change.ledger_fields`` wrote)."""
    return dict((field, value) for field, value in entry.items() if field not in ENGINE_FIELDS)


def resume_point(entry, now):
    """The :class:`ResumePoint` of an entry whose action is RESUME_CHECK; ``now`` in epoch seconds.  Its ``fields``
    are the change's own (what ``Change.ledger_fields`` wrote)."""
    sent_at = command_time(entry)
    seen_down = entry.get('seen_down')
    return ResumePoint(sent_ago=max(0.0, now - sent_at), down_after=seen_down - sent_at if seen_down is not None else None,
                       surely_sent=entry.get('state') == LEDGER_SENT,
                       fields=own_fields(entry))
