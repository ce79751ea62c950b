# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never spend a lockout attempt twice on a password a phone refused: across runs, and across a fleet.

Five wrong passwords lock a Grandstream phone (and its web UI with it).  Not retrying within a task is not enough:
an hourly cron audit with one mistyped passcode would spend an attempt on that phone every hour, and a wrong
``GRANDSTREAM_PASSCODE`` one on every phone of the fleet on every run.  So:

- :class:`RefusalMemory` remembers, in the per-user state directory (``state_dir.py``), each phone (``host:port``)
  that refused a password, with a salted hash of that password (PBKDF2; never the password), its dialect and user
  name, and when.  The same password is not tried on that phone again until it changes, or the admin clears it
  (``grandstream_retry_refused: true`` tries it once more; deleting the file forgets every phone).
- :class:`CredentialGate` is shared by the phones of one fleet task: the first few phones that use a password go
  first; once one accepts it the others go, and when the first ones all refuse it the others are not tried.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import binascii
import datetime
import errno
import hashlib
import json
import os
import stat
import threading

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import (
    AUTH_FAILED, REJECTED, UNREACHABLE, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.durable import write_atomic
from ansible_collections.phonefleet.grandstream.plugins.module_utils.state_dir import state_dir

REFUSALS_FILE = 'refused_passwords.json'
RETRY_VARIABLE = 'grandstream_retry_refused'
PBKDF2_ROUNDS = 100000
MAX_FILE_BYTES = 16 * 1024 * 1024
# Phones of a fleet task that try a new password before the others: when they all refuse it, the rest are spared.
GATE_PROBES = 3


def utc_now_text():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + 'Z'


def _read_regular(path, limit):
    """The bytes of a regular file, without following a symlink and at most ``limit`` of them; None when missing."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    with os.fdopen(descriptor, 'rb') as stream:
        info = os.fstat(stream.fileno())
        if not _is_regular(info.st_mode):
            raise OSError(errno.EINVAL, 'not a regular file', path)
        return stream.read(limit + 1)


def _is_regular(mode):
    return stat.S_ISREG(mode)


class RefusalMemory(object):
    """The per-user file of phones that refused a password.  Thread-safe; several processes may share the file.

    A broken or unreadable file is never fatal: the memory then starts empty (and says so in ``problem``), because
    refusing to talk to every phone would be worse than forgetting.
    """

    def __init__(self, path=None, now_text=utc_now_text):
        self.path = path or state_dir(REFUSALS_FILE)
        self._now_text = now_text
        self._lock = threading.Lock()
        self._cache_key = None
        self._data = None
        self._hashes = {}
        self.problem = None

    # -- what the file holds ------------------------------------------------------------

    def _load(self):
        """The file's content ({'salt', 'phones'}), re-read only when it changed."""
        try:
            info = os.stat(self.path)
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            key = None
        if key is not None and key == self._cache_key and self._data is not None:
            return self._data
        data = None
        try:
            raw = _read_regular(self.path, MAX_FILE_BYTES)
            if raw is not None:
                if len(raw) > MAX_FILE_BYTES:
                    raise ValueError('larger than %d MiB' % (MAX_FILE_BYTES // (1024 * 1024)))
                data = json.loads(raw.decode('utf-8'))
                if not isinstance(data, dict) or not isinstance(data.get('phones'), dict) \
                        or not isinstance(data.get('salt'), str):
                    raise ValueError('not a file of refused passwords')
        except (OSError, ValueError) as exc:
            self.problem = 'the memory of refused passwords %s could not be read (%s); it starts empty' % (
                self.path, getattr(exc, 'strerror', None) or exc)
            data = None
        if data is None:
            data = {'version': 1, 'salt': binascii.hexlify(os.urandom(16)).decode('ascii'), 'phones': {}}
        self._cache_key, self._data = key, data
        return data

    def _fingerprint(self, salt, connection):
        key = (salt, connection.auth, connection.username, connection.passcode)
        found = self._hashes.get(key)
        if found is None:
            material = '%s\0%s\0%s' % (connection.auth, connection.username, connection.passcode)
            found = binascii.hexlify(hashlib.pbkdf2_hmac('sha256', material.encode('utf-8'),
                                                         binascii.unhexlify(salt), PBKDF2_ROUNDS)).decode('ascii')
            self._hashes[key] = found
        return found

    # -- the three questions --------------------------------------------------------------

    def refused(self, connection):
        """``{'at', 'what'}`` when this phone refused this very password (dialect, user) before, else None."""
        with self._lock:
            data = self._load()
            entry = data['phones'].get(connection.address)
            if not isinstance(entry, dict):
                return None
            if entry.get('credential') != self._fingerprint(data['salt'], connection):
                return None  # the password (or the dialect, or the user) changed since: try it
            return {'at': str(entry.get('at') or 'an earlier run')[:40], 'what': str(entry.get('what') or '')[:200]}

    def remember(self, connection, what):
        self._change(connection, what)

    def forget(self, connection):
        self._change(connection, None)

    def _change(self, connection, what):
        with self._lock:
            try:
                with _FileLock(self.path + '.lock'):
                    self._cache_key = None  # another process may have written: read again under the lock
                    data = self._load()
                    phones = data['phones']
                    if what is None:
                        if phones.pop(connection.address, None) is None:
                            return
                    else:
                        phones[connection.address] = {'credential': self._fingerprint(data['salt'], connection),
                                                      'at': self._now_text(), 'what': what, 'name': connection.name}
                    write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + '\n', mode=0o600)
                    self._cache_key = None
            except OSError as exc:
                # Not remembering is the old behaviour, not a reason to fail the task.
                self.problem = 'the memory of refused passwords %s could not be written (%s)' % (
                    self.path, exc.strerror or exc)


class _FileLock(object):
    """An exclusive lock on a file next to the memory (fcntl), for the read-change-write of several processes."""

    def __init__(self, path):
        self.path = path
        self._descriptor = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), 0o700, exist_ok=True)
        self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0), 0o600)
        try:
            import fcntl  # pylint: disable=import-outside-toplevel
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX: one process at a time is all we can promise
            pass
        return self

    def __exit__(self, *exc_info):
        os.close(self._descriptor)  # closing releases the lock


_MEMORY = {}
_MEMORY_LOCK = threading.Lock()


def refusal_memory():
    """The memory of this process for the current state directory (one per path, shared by every client)."""
    path = state_dir(REFUSALS_FILE)
    with _MEMORY_LOCK:
        memory = _MEMORY.get(path)
        if memory is None:
            memory = _MEMORY[path] = RefusalMemory(path)
        return memory


class GateClosed(Exception):
    """The first phones of the fleet task refused this password: it is not tried on this phone."""

    def __init__(self, refusals):
        super(GateClosed, self).__init__('refused by %d phones' % len(refusals))
        self.refusals = refusals  # the labels of the phones that refused it


class CredentialGate(object):
    """Shared by the phones of one fleet task (the fan-out), so that a wrong password costs a few phones an attempt,
    not the fleet.

    Per password (with its dialect and user name): up to ``probes`` phones try it at once while the others wait; the
    first phone that accepts it opens the gate for every phone; when ``probes`` phones have refused it and none
    accepted it, the gate closes and the others are not tried (:class:`GateClosed`).  A phone that could not be
    asked (unreachable, an error) frees its place without deciding anything.
    """

    def __init__(self, probes=GATE_PROBES, wait_step=0.5):
        self.probes = probes
        self._wait_step = wait_step
        self._cond = threading.Condition()
        self._states = {}

    @staticmethod
    def key(connection):
        # In memory only, never written: the password is hashed so that no structure of this object holds it.
        material = '%s\0%s\0%s' % (connection.auth, connection.username, connection.passcode)
        return hashlib.sha256(material.encode('utf-8')).hexdigest()

    def enter(self, key):
        """Wait for this phone's turn to try the password; raises GateClosed when it must not be tried."""
        with self._cond:
            state = self._states.setdefault(key, {'accepted': False, 'refused': [], 'trying': 0})
            while True:
                if state['accepted']:
                    return
                if len(state['refused']) >= self.probes:
                    raise GateClosed(list(state['refused']))
                if state['trying'] + len(state['refused']) < self.probes:
                    state['trying'] += 1
                    return
                self._cond.wait(self._wait_step)

    def _leave(self, key, accepted=False, refused_by=None):
        with self._cond:
            state = self._states[key]
            if state['trying'] > 0:
                state['trying'] -= 1
            if accepted:
                state['accepted'] = True
            if refused_by is not None and not state['accepted']:
                state['refused'].append(refused_by)
            self._cond.notify_all()

    def accepted(self, key):
        self._leave(key, accepted=True)

    def refused(self, key, label):
        self._leave(key, refused_by=label)

    def undecided(self, key):
        self._leave(key)


# Where a client stands with its password: not sent yet; accepted by the phone (it may be sent again); sent without an
# answer (the phone may have counted a wrong attempt: never sent again by this client); refused.
UNTRIED, PROVEN, LOST, REFUSED = 'untried', 'proven', 'lost', 'refused'


class PasswordGuard(object):
    """One phone's password in one client (one task): sent only when it may be, and what the phone's answer taught.

    The client calls :meth:`before_sending` before a request that carries the password, wraps the exchange in
    :meth:`sent` and the reading of its answer in :meth:`answered`.  Before the phone accepted the password once: a
    refusal in an earlier run (the memory) or by the first phones of the task (the gate) stops it unsent; a lost answer
    or a refusal in this task stops every later attempt.
    """

    def __init__(self, connection, memory=None, gate=None, proven=False):
        self.connection = connection
        self._memory = memory
        self._gate = gate
        self._gate_key = None
        self.state = PROVEN if proven else UNTRIED

    @property
    def proven(self):
        return self.state == PROVEN

    def before_sending(self):
        """Raise instead of sending the password when it must not be sent (again)."""
        if self.state == PROVEN:
            return
        conn = self.connection
        if self.state == LOST:
            raise CTIError(conn.label, UNREACHABLE, 'its answer to the password was lost (the connection dropped after '
                           'the request left), so the password was not sent again in this task: the phone may have '
                           'counted a wrong attempt.', request_sent=False, retryable=False)
        if self.state == REFUSED:
            raise CTIError(conn.label, AUTH_FAILED, 'the phone refused the password earlier in this task; it was not '
                           'sent again.')
        memory = self.memory()
        if conn.retry_refused:
            memory.forget(conn)
        else:
            refused = memory.refused(conn)
            if refused is not None:
                raise CTIError(conn.label, AUTH_FAILED, 'not tried: this password was refused at %s (%s).'
                               % (refused['at'], refused['what'] or 'refused'),
                               hint='A refused password is never tried again on the same phone (five wrong ones lock '
                                    'it). Fix the password, or set grandstream_retry_refused: true to try it once more.',
                               details={'reason': 'refused_before', 'refused_at': refused['at']})
        if self._gate is not None and self._gate_key is None:
            key = self._gate.key(conn)
            try:
                self._gate.enter(key)
            except GateClosed as closed:
                raise CTIError(conn.label, AUTH_FAILED, 'not tried: the first %d phones of this task that use the same '
                               'password refused it (%s), so it was not tried on the others.'
                               % (len(closed.refusals), ', '.join(closed.refusals[:5])),
                               hint='Fix the password (grandstream_passcode / GRANDSTREAM_PASSCODE); the phones it was '
                                    'not tried on spent no attempt.', details={'reason': 'not_tried'})
            self._gate_key = key

    def sent(self, exchange):
        """``exchange()`` a request that carries the password: a lost answer means it may have been counted."""
        try:
            return exchange()
        except CTIError as error:
            if error.request_sent and self.state != PROVEN:
                self.state = LOST
            self.leave()
            raise

    def answered(self, read):
        """``read()`` the answer to a request that carried the password, and learn from it."""
        try:
            result = read()
        except CTIError as error:
            if error.error_class == AUTH_FAILED and self.state != PROVEN:
                self._refused(error)
            elif error.error_class == REJECTED:
                self._accepted()  # the phone looked at the command: the password was right
            else:
                self.leave()
            raise
        self._accepted()
        return result

    def leave(self):
        """Give the gate back without deciding anything (the phone could not be asked)."""
        if self._gate_key is not None:
            self._gate.undecided(self._gate_key)
            self._gate_key = None

    def memory(self):
        if self._memory is None:
            self._memory = refusal_memory()
        return self._memory

    def _accepted(self):
        self.state = PROVEN
        if self._gate_key is not None:
            self._gate.accepted(self._gate_key)
            self._gate_key = None

    def _refused(self, error):
        self.state = REFUSED
        self.memory().remember(self.connection, error.reason.rstrip('.'))
        if self._gate_key is not None:
            self._gate.refused(self._gate_key, self.connection.label)
            self._gate_key = None
