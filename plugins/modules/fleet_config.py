#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fleet_config
short_description: Set the settings (P-values) of every phone of the play from one task, every write read back
version_added: 0.3.0
description:
  - Does what M(phonefleet.grandstream.phone_config) does to one phone for every phone of the play at once, from a
    single task on the controller with bounded concurrency. It reads the keys given, writes only what differs, reads every
    written value back. A thousand phones take seconds, not minutes.
  - The settings of a phone are O(settings) (the same for every phone) with the phone's host variable
    C(grandstream_settings) (a mapping of keys to values, for example in C(host_vars/gs0042.yml) or a group's variables)
    over them. A key both name is set to the host variable's value; P-number keys are compared by number (V(30) in
    C(grandstream_settings) replaces V(P30) of O(settings)).
  - Each phone gets a status. V(changed) (values written and read back), V(unchanged) (nothing to write),
    V(not_applied) (the phone answered success but kept the old value of a key - a user-role login, a value too long, a
    cloud service (GDMS) that owns provisioning; the keys are in RV(phones[].not_applied)), V(failed) (it could not be
    set; RV(phones[].error_class) and RV(phones[].error) say why). The task fails when a phone is V(not_applied) or
    V(failed), after every phone was visited and the report written.
  - Keys are V(P30), V(30) or an alias that the phone's alias catalogue resolves (phones with the JSON settings form).
    O(settings) is checked before any phone is contacted.
  - Secrets (admin and user passwords P2 and P196, SIP passwords, SNMP communities, and any alias naming a password,
    secret, key or community) are write-only. They are never read, compared or shown - not in the result, the per-phone
    results, the report, the diff or C(-vvvv). With O(update_secrets=always) they are written on every run and listed
    in RV(phones[].unverified). A weak admin password (P2 under 8 characters, or without both letters and digits) is
    refused before anything is written to that phone, since phones drop it while answering success.
  - Settings need the phone's web login, on every phone, also on phones whose CTI requests use the passcode dialect.
    One login per phone and task, never retried after a wrong password; the phones of the task that share a password
    stop trying it once a few of them refused it.
  - The phones are the play's hosts (C(ansible_play_hosts), so C(--limit) applies) unless O(hosts) names others. Each
    phone's connection settings come from its host variables, exactly as for the per-phone modules.
  - With O(report_dir), writes C(fleet_config.json) and C(fleet_config.csv) there (the rows below, no value of any
    setting), replaced as a set.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details: Reads the current values of every phone and predicts the result; writes nothing to any phone. The report
      is written in check mode too (it changes nothing on a phone), with C(check_mode) true in its C(audit).
  diff_mode:
    support: full
    details: One diff per phone that changes, with the values of the keys given before and after, secrets left out.
options:
  settings:
    description:
      - The settings to set on every phone, key to value. Values are sent as text, numbers and booleans too (V(true) is
        V(1)).
      - May be empty when every phone has its own C(grandstream_settings).
    type: dict
    default: {}
  update_secrets:
    description:
      - V(always) writes the secrets on every run (they cannot be read back to compare) and reports them as changed and
        unverified.
      - V(never) leaves secrets alone, so that a run without changes is not changed.
    type: str
    choices: [always, never]
    default: always
  hosts:
    description:
      - Inventory names of the phones to set.
      - When omitted, the hosts of the play that have not failed (C(ansible_play_hosts)).
    type: list
    elements: str
  concurrency:
    description:
      - How many phones are worked on at the same time (one socket each, capped below the controller's open-file limit).
    type: int
    default: 200
  deadline:
    description:
      - Seconds the whole task may take; phones not done by then are V(failed) with the error class V(not_attempted)
        (nothing was sent) or V(interrupted) (whether the writes took effect is unknown).
      - V(0) means no deadline; each request is still bounded by the phone's C(grandstream_timeout).
    type: float
    default: 0
  report_dir:
    description:
      - Directory in which to write the report (created when missing). When omitted, no report is written.
    type: path
  report_formats:
    description:
      - Which reports to write into O(report_dir). V(json) C(fleet_config.json), V(csv) C(fleet_config.csv).
    type: list
    elements: str
    choices: [json, csv]
    default: [json, csv]
  return_phones:
    description:
      - Return the per-phone results in RV(phones). Set to V(false) for large fleets when the report is enough.
    type: bool
    default: true
notes:
  - Runs on the controller only, inside the Ansible worker (no module process, no connection to the phones' hosts).
    C(delegate_to) is not supported; use M(phonefleet.grandstream.phone_config) through a jump host instead.
  - Writing the web access mode or port (P1650, P22120, P22121) can end the management session; those values are
    written and listed in RV(phones[].unverified), not read back on the old connection.
seealso:
  - module: phonefleet.grandstream.phone_config
  - module: phonefleet.grandstream.fleet_config_backup
"""

EXAMPLES = r"""
- name: NTP server and time zone on every phone of the play, every write read back
  phonefleet.grandstream.fleet_config:
    settings:
      P30: ntp.example.net
      P64: CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00
    report_dir: /var/lib/phonefleet/config
  run_once: true
  register: ntp

- name: Syslog per site (grandstream_settings in group_vars/site_hq.yml holds P207 for that site's phones)
  phonefleet.grandstream.fleet_config:
    settings:
      P208: 2
    update_secrets: never
  run_once: true

- name: What would change, and how (nothing is written)
  phonefleet.grandstream.fleet_config:
    settings:
      P192: fw.example.net/grandstream
      P6767: 2
      P238: 0
  run_once: true
  check_mode: true
  diff: true

- name: Rotate the SIP password of account 1 from the vault (write-only, reported as unverified)
  phonefleet.grandstream.fleet_config:
    settings:
      P34: "{{ vault_sip_password }}"
    update_secrets: always
    concurrency: 50
    deadline: 600
  run_once: true
"""

RETURN = r"""
summary:
  description: Counts per status.
  returned: always
  type: dict
  sample: {total: 1000, changed: 990, unchanged: 6, not_applied: 3, failed: 1}
  contains:
    total:
      description: Phones of the task.
      type: int
      returned: always
      sample: 1000
    changed:
      description: Phones whose settings were written and read back (in check mode, that would be written).
      type: int
      returned: always
      sample: 990
    unchanged:
      description: Phones that already had every value (secrets left alone with O(update_secrets=never)).
      type: int
      returned: always
      sample: 6
    not_applied:
      description: Phones that answered success but kept the old value of a key.
      type: int
      returned: always
      sample: 3
    failed:
      description: Phones that could not be set (unreachable, wrong password, invalid settings, deadline...).
      type: int
      returned: always
      sample: 1
changed_phones:
  description: Names of the phones whose settings changed (would change in check mode), in task order.
  returned: always
  type: list
  elements: str
  sample: [gs0001, gs0002]
not_applied_phones:
  description: Names of the phones that kept a value they were sent.
  returned: always
  type: list
  elements: str
  sample: [gs0042]
failed_phones:
  description: Names of the phones that could not be set.
  returned: always
  type: list
  elements: str
  sample: [gs0107]
report_files:
  description: The report files written, format to path; empty without O(report_dir).
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/config/fleet_config.json, csv: /var/lib/phonefleet/config/fleet_config.csv}
stats:
  description: What to hand to C(ansible.builtin.set_stats) for AWX workflows - the summary, each list of phone names
    cut at 100 names with its full count beside it (C(<list>_count)), and the report files.
  returned: always
  type: dict
  sample: {summary: {total: 2, changed: 1, unchanged: 0, not_applied: 1, failed: 0}, changed_phones: [gs0001],
           changed_phones_count: 1, not_applied_phones: [gs0042], not_applied_phones_count: 1, failed_phones: [],
           failed_phones_count: 0, report_files: {}}
duration_seconds:
  description: How long the work on the phones took.
  returned: always
  type: float
  sample: 1.42
phones:
  description: One entry per phone, in the order of O(hosts) (or of the play's hosts). No value of any setting.
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample:
    - name: gs0042
      host: 10.1.4.42
      port: 80
      site: hq
      model: GRP2614
      status: not_applied
      changed_keys: [P30]
      unverified: []
      not_applied: [P192]
      reachable: true
      error: "the phone answered success but kept the old value: P192 is 'fm.grandstream.com/gs' (wanted 'fw.example.net/gs')."
      hint: Log in as admin (grandstream_username), keep URL values under 256 characters, and check whether a cloud service
        (GDMS) owns provisioning on the phone.
      reason: not_applied
      seconds: 0.412
  contains:
    name:
      description: Inventory name.
      type: str
      returned: always
      sample: gs0042
    host:
      description: Address the phone was reached at.
      type: str
      returned: always
      sample: 10.1.4.42
    port:
      description: TCP port.
      type: int
      returned: always
      sample: 80
    site:
      description: The phone's C(site) host variable, if any.
      type: str
      returned: always
      sample: hq
    model:
      description: The phone's C(model) host variable, if any.
      type: str
      returned: always
      sample: GRP2614
    status:
      description: V(changed), V(unchanged), V(not_applied) or V(failed).
      type: str
      returned: always
      sample: changed
    changed_keys:
      description: The keys written and read back (as the settings named them), secrets written included.
      type: list
      elements: str
      returned: always
      sample: [P30, P34]
    unverified:
      description: Keys written but not read back - secrets, and web access keys that may end the session.
      type: list
      elements: str
      returned: always
      sample: [P34]
    not_applied:
      description: Keys the phone answered success for but did not keep.
      type: list
      elements: str
      returned: always
      sample: [P192]
    reachable:
      description: Whether the phone answered on the network (null when it was not contacted).
      type: bool
      returned: always
      sample: true
    error_class:
      description: For a V(failed) phone, V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error), V(rejected),
        V(not_attempted) or V(interrupted).
      type: str
      returned: when the phone failed
      sample: unreachable
    http_status:
      description: The HTTP status of the answer that failed the phone, when there was one.
      type: int
      returned: when the phone answered an HTTP error
      sample: 403
    error:
      description: What went wrong, one sentence; null when nothing did.
      type: str
      returned: always
      sample: "not tried: this password was refused at 2026-03-02T10:04:11Z (wrong4)."
    hint:
      description: What to check; null when nothing went wrong.
      type: str
      returned: always
      sample: Fix the key or value (settings, or the phone's grandstream_settings); nothing was written to the phone.
    reason:
      description:
        - A code word for what went wrong; null when nothing did. V(not_applied), V(invalid_settings) (a key or value
          that cannot be sent to this phone, nothing was written), V(no_passcode), V(bad_variables), else the error class.
      type: str
      returned: always
      sample: invalid_settings
    seconds:
      description: How long the phone took.
      type: float
      returned: always
      sample: 0.412
diff:
  description: With C(--diff), one entry per phone that changes (C(before_header) and C(after_header) name the phone),
    the keys given as C(P30=value) lines, secrets left out.
  returned: in diff mode, when a phone changes
  type: list
  elements: dict
  sample: [{before_header: gs0001 (10.1.4.1), after_header: gs0001 (10.1.4.1), before: "P30=pool.ntp.org\n",
            after: "P30=ntp.example.net\n"}]
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.config_tasks import UPDATE_SECRETS
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only

ARGUMENT_SPEC = dict(
    settings=dict(type='dict', default={}),
    update_secrets=dict(type='str', choices=list(UPDATE_SECRETS), default='always'),
    hosts=dict(type='list', elements='str'),
    concurrency=dict(type='int', default=200),
    deadline=dict(type='float', default=0),
    report_dir=dict(type='path'),
    report_formats=dict(type='list', elements='str', choices=['json', 'csv'], default=['json', 'csv']),
    return_phones=dict(type='bool', default=True),
)


def main():
    run_controller_only('fleet_config', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
