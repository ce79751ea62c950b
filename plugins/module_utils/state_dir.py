# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-user state directory: where what must outlive one run is kept (rolling ledgers by default, the memory of
refused passwords).

Per user, not per current directory: a cron job, an AWX job and an admin at a shell start from different
directories, and what one run learnt (a run id already done, a password a phone refused) must hold for the next.

``GRANDSTREAM_STATE_DIR`` if set, else ``$XDG_STATE_HOME/phonefleet.grandstream``, else
``~/.local/state/phonefleet.grandstream``.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import os

STATE_DIR_ENV = 'GRANDSTREAM_STATE_DIR'
STATE_DIR_NAME = 'phonefleet.grandstream'


def state_dir(*parts):
    """The state directory (or a path inside it); not created here."""
    base = os.environ.get(STATE_DIR_ENV)
    if not base:
        xdg = os.environ.get('XDG_STATE_HOME')
        root = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser('~'), '.local', 'state')
        base = os.path.join(root, STATE_DIR_NAME)
    return os.path.join(os.path.abspath(os.path.expanduser(base)), *parts)
