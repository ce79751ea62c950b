# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one durable atomic writer: reports, rolling ledgers, configuration backups and the per-user state files.

A file is replaced through a temporary file in the same directory, fsync, a rename and an fsync of the directory:
a crash or a power loss leaves the old file or the new one, never half of one (node_exporter's textfile collector and
the readers of reports need that; a ledger must survive a power loss).

Python 3.8 syntax: module_utils may run on a jump host.
"""

import os
import tempfile


def write_atomic(path, data, mode=0o644):
    """Write text (UTF-8) or bytes to ``path`` through a temporary file and a rename, durably; returns ``path``.

    When it returns, the new content is on disk: a crash or a power loss leaves the old file or the new one,
    never half of one.
    """
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # A leading dot and a .tmp suffix: node_exporter only reads *.prom, and ls hides the file.
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    # The rename is durable only once the directory is: without this, a power loss can bring back the old file.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path
