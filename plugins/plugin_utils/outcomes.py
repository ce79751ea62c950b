# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The outcome words every fleet task's rows share, owned here and imported, never retyped.

Each task adds its own words (the reboot's ``rebooted``, the backup's ``saved``, the rollout's ``upgraded``); the CTI
error classes live in module_utils/cti_errors.py, ``not_attempted`` and ``interrupted`` in plugin_utils/fanout.py.
"""

# The phone was not changed (or read) as asked: unreachable, refused, a value that did not stick...; the row's
# ``reason`` says which (a code word), its ``error`` how (a sentence).
FAILED = 'failed'
# Nothing needed doing: the phone already was as asked.
UNCHANGED = 'unchanged'
