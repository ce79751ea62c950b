# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is ansible-playbook still there?  Fleet work stops when it is gone.

Ansible's workers run in a session of their own, so killing ansible-playbook's process group (SIGKILL, an OOM
kill, a CI job cancelled the hard way) leaves a worker running on its own: nobody reads its result, and it would go
on contacting phones (an audit to its end, a reboot batch after batch) while a re-run starts.  SIGTERM and SIGINT
reach the worker through ansible-playbook and end it at once; this is for the kill nobody announces.
"""

import os


class ControllerGone(Exception):
    """ansible-playbook died while the fleet work ran: the work stopped too."""


def parent_alive_check(getppid=os.getppid):
    """A callable that is True while the process that started this one (ansible-playbook) is alive.

    A process whose parent dies is adopted by another (init, or a subreaper), so its parent id changes.
    """
    parent = getppid()
    return lambda: getppid() == parent


def controller_gone_check(getppid=os.getppid):
    """The opposite of :func:`parent_alive_check`: a ``should_stop`` for fanout.fan_out."""
    alive = parent_alive_check(getppid)
    return lambda: not alive()
