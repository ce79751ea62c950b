# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state directory of rolling runs and its lock: files that are never opened through a symbolic link, a
directory that is not swapped under the run, and errors that are sentences naming the file.

A state directory holds the ledgers of run ids (``rolling_ledger``) and one lock per kind of change
(:class:`RunLock`, ``rolling_reboot.lock``).  Someone who can write into the directory could plant
``rolling_reboot.lock -> ~/.ssh/authorized_keys``: a lock opened with a plain ``open()`` would follow the link and
truncate the victim.  Every state file is opened relative to the directory's descriptor with ``O_NOFOLLOW``; a
ledger is replaced by a rename, which replaces a link instead of writing through it.  POSIX only (fcntl).
"""

import errno
import os
import time

_WORDS = {
    errno.ENOSPC: 'no space is left on the device',
    errno.EROFS: 'the file system is read-only',
    errno.EACCES: 'permission denied',
    errno.EPERM: 'permission denied',
    errno.ENOENT: 'a directory on the way does not exist',
    errno.ENOTDIR: 'a part of the path is not a directory',
    errno.ELOOP: 'it is a symbolic link, and state files are never opened through a link',
    errno.EISDIR: 'it is a directory',
    errno.EIO: 'input/output error (a failing disk or network file system)',
}
if hasattr(errno, 'EDQUOT'):
    _WORDS[errno.EDQUOT] = 'the disk quota is exceeded'


def os_error_words(exc):
    """What went wrong with a file, in words ("no space is left on the device"), never "[Errno 28] ..."."""
    words = _WORDS.get(getattr(exc, 'errno', None))
    if words:
        return words
    text = getattr(exc, 'strerror', None) or str(exc)
    return text[:1].lower() + text[1:] if text else 'an unknown error'


class StateFileError(Exception):
    """A state file (ledger, lock) could not be read or written; ``str()`` is a sentence naming it."""


class LockHeld(ValueError):
    """Another run holds the state directory's lock; ``str()`` names its run id and process."""


def state_file_error(exc, action, path, advice=None):
    """A StateFileError for an OSError: ``cannot <action> <path>: <words>. <advice>``."""
    text = 'cannot %s %s: %s.' % (action, path, os_error_words(exc))
    return StateFileError('%s %s' % (text, advice) if advice else text)


class StateDirectory(object):
    """A state directory opened once: files inside it are opened relative to its descriptor, without following a
    link, and :meth:`check` refuses to go on when the path now leads to another directory (a swapped symlink)."""

    def __init__(self, path, create=True):
        self.path = os.path.abspath(path)
        self.fd = None
        self.identity = None
        if create or os.path.isdir(self.path):
            self.open(create)

    def open(self, create=True):
        if self.fd is not None:
            return self
        try:
            if create:
                os.makedirs(self.path, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0))
        except OSError as exc:
            raise state_file_error(exc, 'use the state directory', self.path)
        info = os.fstat(self.fd)
        self.identity = (info.st_dev, info.st_ino)
        return self

    @property
    def opened(self):
        return self.fd is not None

    def check(self):
        """Raise StateFileError when the path no longer leads to the directory opened at the start."""
        try:
            info = os.stat(self.path)
            same = (info.st_dev, info.st_ino) == self.identity
        except OSError:
            same = False
        if not same:
            raise StateFileError('the state directory %s was replaced while the run used it (moved, or a symbolic link '
                                 'swapped); stopping so that no state file is written elsewhere.' % self.path)

    def file_path(self, name):
        return os.path.join(self.path, name)

    def open_file(self, name, flags, mode=0o644):
        """``os.open`` of ``name`` inside the directory, never through a link (ELOOP when it is one)."""
        return os.open(name, flags | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0), mode, dir_fd=self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class RunLock(object):
    """One rolling change at a time per state directory and lock name (``<state_dir>/rolling_reboot.lock`` for the
    reboot), held for the whole run.

    Two runs from one state directory (a cron job that overlaps the previous one, a re-run while the worker of a
    killed ansible-playbook is still finishing, two run ids over the same phones) would change phones at the same
    time, and two runs of one run id would both work from the same ledger.  Runs over different fleets at the same
    time need different state directories.  The kernel releases the lock when the process ends, however it ends.
    ``names``: the change's LedgerKind (lock name, title, role variable prefix).
    """

    def __init__(self, state_dir, run_id, names):
        self.directory = StateDirectory(state_dir, create=False)
        self.path = self.directory.file_path(names.lock_name)
        self.state_dir = self.directory.path
        self.run_id = run_id
        self.names = names
        self.fd = None

    def acquire(self, timeout=0.0, sleep=time.sleep):
        """Take the lock, waiting up to ``timeout`` seconds; raises LockHeld when another process holds it, and
        StateFileError when the lock file cannot be opened (a symbolic link, a read-only file system...)."""
        # POSIX only: imported where it is needed.
        import fcntl  # pylint: disable=import-outside-toplevel
        self.directory.open(create=True)
        try:
            fd = self.directory.open_file(self.names.lock_name, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            self.directory.close()
            raise state_file_error(exc, 'open the lock', self.path, 'Nothing was changed on the phones.')
        deadline = time.monotonic() + max(0.0, float(timeout))
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    self.directory.close()
                    raise state_file_error(exc, 'lock', self.path)
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode('utf-8', 'replace').split()
                    os.close(fd)
                    self.directory.close()
                    raise LockHeld(self._held_text(holder))
                sleep(0.2)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, ('%d %s %s\n' % (os.getpid(), self.run_id, self.names.kind)).encode('utf-8'), 0)
        except OSError as exc:
            os.close(fd)
            self.directory.close()
            raise state_file_error(exc, 'write the lock', self.path)
        self.fd = fd
        return self

    def _held_text(self, holder):
        pid = holder[0] if holder else 'unknown'
        other = ''.join(char for char in (holder[1] if len(holder) > 1 else 'unknown') if char.isprintable())[:128]
        return ('another %s (run id %s, process %s) is running from the state directory %s; wait for it to finish or '
                'stop it. Runs over different fleets at the same time need different state directories (state_dir, '
                '%sstate_dir)' % (self.names.title, other, ''.join(char for char in pid if char.isdigit()) or 'unknown',
                                  self.state_dir, self.names.role_prefix))

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the file releases the flock
            self.fd = None
        self.directory.close()
