# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribute descriptions shared by the modules; each module states its own C(support) and C(details)."""


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

    # The per-phone modules, members of the action group cti (meta/runtime.yml).
    CTI_GROUP = r"""
attributes:
  action_group:
    description: Use C(group/phonefleet.grandstream.cti) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - phonefleet.grandstream.cti
"""

    # The fleet modules, which run once for the whole play.
    FLEET = r"""
attributes:
  bypass_host_loop:
    description: Forces a 'global' task that does not execute per host, this bypasses per host templating and serial,
      throttle and other loop considerations.
    support: full
"""
