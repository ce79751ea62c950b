#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: role_variables_check
short_description: Warn about role variables the role does not know, and read its number variables
version_added: 0.2.0
description:
  - Ansible checks the variables a role declares in its C(meta/argument_specs.yml) and ignores any other. A misspelt
    variable (C(registration_audit_fail_undr=0), C(rolling_reboot_batchsize=5)) is therefore silently without effect.
  - This task warns about every variable visible to it whose name starts with the role's prefix (the role's name and
    C(_), see O(prefix)) and that no entry point of the role declares, and names the closest declared one.
  - It reads the number variables named in O(numbers) as people write them (V(95), V("95"), and V("95%") for a
    percentage) and fails with one sentence naming the variable when one is not a number in its range.
  - Put it first in a role's tasks, with C(run_once=true); it reads no phone and changes nothing.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details: It only reads variables.
  diff_mode:
    support: none
options:
  role:
    description:
      - The role whose variables are checked, a role of this collection (V(phonefleet.grandstream.rolling_reboot) or
        V(rolling_reboot)).
      - Default, the role this task belongs to.
    type: str
  prefix:
    description: The prefix of the role's variables. Default, the role's short name and C(_).
    type: str
  known:
    description: Names with the prefix that are not options of the role but are known (variables the role registers).
    type: list
    elements: str
    default: []
  numbers:
    description:
      - Variables that must be numbers, each with its C(minimum), C(maximum) and C(percent) (true, to accept
        V("95%") as V(95)). Their values are returned in RV(numbers).
    type: dict
    default: {}
notes:
  - Runs on the controller only, inside the Ansible worker.
seealso:
  - module: ansible.builtin.validate_argument_spec
"""

EXAMPLES = r"""
- name: Warn about rolling_reboot_* variables the role does not know
  phonefleet.grandstream.role_variables_check:
  run_once: true

- name: Check the variables, and read the threshold as people write it
  phonefleet.grandstream.role_variables_check:
    known: [registration_audit_result]
    numbers:
      registration_audit_fail_under: {minimum: 0, maximum: 100, percent: true}
      registration_audit_deadline: {minimum: 0}
  run_once: true
  register: registration_audit_variables
"""

RETURN = r"""
unknown:
  description: The variables with the role's prefix that the role does not know (each also a warning).
  returned: always
  type: list
  elements: str
  sample: [registration_audit_fail_undr]
numbers:
  description: The values of the O(numbers) that are set, as numbers.
  returned: always
  type: dict
  sample: {registration_audit_fail_under: 95.0}
msg:
  description: What was found; the sentences of the bad numbers when the task fails.
  returned: always
  type: str
  sample: "registration_audit_fail_under must be a number from 0 to 100, not 'ninety' (a percentage: 95 and 95% are the same)."
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only

ARGUMENT_SPEC = dict(
    role=dict(type='str'),
    prefix=dict(type='str'),
    known=dict(type='list', elements='str', default=[]),
    numbers=dict(type='dict', default={}),
)


def main():
    run_controller_only('role_variables_check', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
