#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fleet_config_backup
short_description: Back up the whole configuration of every phone of the play into text files, secrets left out
version_added: 0.3.0
description:
  - Reads the whole configuration of many phones at once, from a single task on the controller with bounded
    concurrency, and writes one file per phone into O(backup_dir), C(<inventory_hostname>.txt), in the phone's own
    text form - one C(P<number>=<value>) line per setting, sorted by number, and nothing that changes between runs.
  - B(Secrets are left out) (admin and user passwords, SIP passwords, SNMP communities, and any key whose alias names a
    password, secret, key or community), so that a file can be sent back to a phone without setting a password to a
    placeholder. The keys left out are listed per phone in the report.
  - A value is written as it is, except that a backslash is written as two backslashes, a newline as C(\\n), a
    carriage return as C(\\r), a tab as C(\\t), and any other character that is not printable as C(\\xHH),
    C(\\uHHHH) or C(\\UHHHHHHHH), so that one line is one setting and the file reads back exactly (the filter
    P(phonefleet.grandstream.config_backup_settings#filter) does).
  - As complete as the phone allows, tried in turn - the phone's own configuration file (C(download_cfg)), else its
    alias catalogue (C(metaconfig_get)) read through C(config_get) in batches of 50 (phones with the JSON settings
    form), else the collection's list of known keys through C(api.values.get). The source is reported per phone.
  - A file is rewritten only when its content changed (its date stays otherwise), through a temporary file and a
    rename, so that a crash leaves the old file or the new one. A phone that fails keeps its last good file. Nothing
    else is left in the directory (no temporary file; those a killed run left are removed), so the directory can be a
    git repository.
  - Writes C(config_backup.json) (and C(.csv), C(.html), see O(report_formats)) into O(backup_dir) - per phone its
    status (V(saved), V(unchanged) or V(failed) with the error class), the source, the keys left out, and C(drift), the
    keys whose value changed since the phone's previous file in the directory, with the values before and after.
  - Settings need the phone's web login, on every phone, also on phones whose CTI requests use the passcode dialect;
    log in as C(admin) (a user-role session may not download the configuration file, and reads less). One login per
    phone and task, never retried after a wrong password.
  - The phones are the play's hosts (C(ansible_play_hosts), so C(--limit) applies) unless O(hosts) names others. Each
    phone's connection settings come from its host variables, exactly as for the per-phone modules.
  - The role P(phonefleet.grandstream.config_backup#role) wraps this module with C(set_stats) and a verdict.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details: Reads every phone and says which files would be saved and what drifted; writes no file and no report.
  diff_mode:
    support: full
    details: One diff per phone whose configuration changed since its previous backup, the changed keys before and after.
options:
  backup_dir:
    description:
      - The directory of the backup files and reports, created when missing. A relative path is relative to the
        directory C(ansible-playbook) runs in.
      - Files of phones no longer in the play, and any other file, are left alone.
    type: path
    required: true
  hosts:
    description:
      - Inventory names of the phones to back up.
      - When omitted, the hosts of the play that have not failed (C(ansible_play_hosts)).
    type: list
    elements: str
  concurrency:
    description:
      - How many phones are read at the same time (one socket each, capped below the controller's open-file limit).
    type: int
    default: 200
  deadline:
    description:
      - Seconds the whole backup may take; phones not read by then are V(failed) (error class V(not_attempted) or
        V(interrupted)) and keep their last good file.
      - V(0) means no deadline; each request is still bounded by the phone's C(grandstream_timeout).
    type: float
    default: 0
  report_formats:
    description:
      - Which reports to write into O(backup_dir). V(json) C(config_backup.json), V(csv) C(config_backup.csv), V(html)
        C(config_backup.html). The set is replaced as a whole.
    type: list
    elements: str
    choices: [json, csv, html]
    default: [json, csv, html]
  return_phones:
    description:
      - Return the per-phone results (with their drift) in RV(phones). Set to V(false) for large fleets.
    type: bool
    default: true
  stats_max_names:
    description:
      - How many phone names each list of RV(stats) holds; the full counts are beside them.
    type: int
    default: 100
notes:
  - Runs on the controller only, inside the Ansible worker (no module process, no connection to the phones' hosts).
    C(delegate_to) is not supported.
  - To restore a phone, read its file with the filter P(phonefleet.grandstream.config_backup_settings#filter) and give
    the result to M(phonefleet.grandstream.phone_config); see C(docs/settings.md).
seealso:
  - module: phonefleet.grandstream.phone_config
  - module: phonefleet.grandstream.fleet_config
  - name: The config_backup role
    description: Backup, set_stats for AWX workflows, and a verdict.
    link: https://github.com/phonefleet/grandstream/blob/main/roles/config_backup/README.md
"""

EXAMPLES = r"""
- name: Back up every phone of the play into a git working tree
  phonefleet.grandstream.fleet_config_backup:
    backup_dir: /var/lib/phonefleet/config
  run_once: true
  register: backup

- name: Commit what changed
  ansible.builtin.command:
    cmd: git -C /var/lib/phonefleet/config commit -qam "Phone configurations, {{ backup.summary.saved }} saved"
  run_once: true
  when: backup.changed

- name: Which phones drifted, and how (nothing is written)
  phonefleet.grandstream.fleet_config_backup:
    backup_dir: /var/lib/phonefleet/config
    return_phones: false
  run_once: true
  check_mode: true
  diff: true
"""

RETURN = r"""
summary:
  description: Counts per status, first backups, and phones whose configuration changed since their previous backup.
  returned: always
  type: dict
  sample: {total: 1000, saved: 12, unchanged: 987, failed: 1, first_backup: 2, drifted: 10}
  contains:
    total:
      description: Phones of the task.
      type: int
      returned: always
      sample: 1000
    saved:
      description: Phones whose file was written (would be, in check mode) - a first backup or a changed configuration.
      type: int
      returned: always
      sample: 12
    unchanged:
      description: Phones whose configuration is their file's; the file was not rewritten.
      type: int
      returned: always
      sample: 987
    failed:
      description: Phones that could not be backed up; their last good file is kept.
      type: int
      returned: always
      sample: 1
    first_backup:
      description: Phones that had no file in the directory before.
      type: int
      returned: always
      sample: 2
    drifted:
      description: Phones whose configuration changed since their previous file.
      type: int
      returned: always
      sample: 10
saved_phones:
  description: Names of the phones whose file was written, in task order.
  returned: always
  type: list
  elements: str
  sample: [gs0001]
drifted_phones:
  description: Names of the phones whose configuration changed since their previous file.
  returned: always
  type: list
  elements: str
  sample: [gs0001]
failed_phones:
  description: Names of the phones that could not be backed up.
  returned: always
  type: list
  elements: str
  sample: [gs0107]
report_files:
  description: The report files written, format to path; empty in check mode.
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/config/config_backup.json}
stats:
  description: What to hand to C(ansible.builtin.set_stats) - the summary, each list of phone names cut at
    O(stats_max_names) names with its full count beside it (C(<list>_count)), and the report files.
  returned: always
  type: dict
  sample: {summary: {total: 1, saved: 1, unchanged: 0, failed: 0, first_backup: 0, drifted: 1}, saved_phones: [gs0001],
           saved_phones_count: 1, drifted_phones: [gs0001], drifted_phones_count: 1, failed_phones: [],
           failed_phones_count: 0, report_files: {json: /var/lib/phonefleet/config/config_backup.json}}
duration_seconds:
  description: How long the work on the phones took.
  returned: always
  type: float
  sample: 2.31
phones:
  description: One entry per phone, sorted by name.
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample:
    - name: gs0001
      host: 10.1.4.1
      port: 80
      site: hq
      model: GRP2614
      status: saved
      source: catalogue
      keys: 1820
      file: gs0001.txt
      secrets_left_out: [P2, P34, P196]
      drift: {P30: {before: pool.ntp.org, after: ntp.example.net}}
      first_backup: false
      reachable: true
      error: null
      hint: null
      reason: null
      seconds: 0.31
  contains:
    name:
      description: Inventory name.
      type: str
      returned: always
      sample: gs0001
    host:
      description: Address the phone was reached at.
      type: str
      returned: always
      sample: 10.1.4.1
    status:
      description: V(saved), V(unchanged) or V(failed).
      type: str
      returned: always
      sample: saved
    source:
      description: Where the values came from - V(download_cfg), V(catalogue) or V(known_keys); null when not read.
      type: str
      returned: always
      sample: catalogue
    keys:
      description: How many settings the file holds; null when not read.
      type: int
      returned: always
      sample: 1820
    file:
      description: The phone's file in O(backup_dir); for a failed phone its last good file, kept as it was (null when
        it has none).
      type: str
      returned: always
      sample: gs0001.txt
    secrets_left_out:
      description: The secret keys the source had and the file does not (on phones read through the known keys, the
        secret keys of that list, never read).
      type: list
      elements: str
      returned: always
      sample: [P2, P34, P196]
    drift:
      description: The keys whose value differs from the phone's previous file, each with C(before) and C(after) (null
        for a key only one of them has); empty for a first backup, an unchanged or a failed phone. Never a secret.
      type: dict
      returned: always
      sample: {P30: {before: pool.ntp.org, after: ntp.example.net}}
    first_backup:
      description: Whether the phone had no file in the directory before; null for a failed phone.
      type: bool
      returned: always
      sample: false
    previous_note:
      description: Why the previous file could not be compared (not a backup, not UTF-8, too large).
      type: str
      returned: when the previous file could not be read
      sample: "the previous file could not be read as a backup (gs0001.txt:3: not a P<number>=<value> line: 'x'); no drift against it."
    error_class:
      description: For a failed phone, V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error), V(rejected),
        V(not_attempted) or V(interrupted).
      type: str
      returned: when the phone failed
      sample: unreachable
    error:
      description: What went wrong, one sentence; null when nothing did.
      type: str
      returned: always
      sample: "the phone did not answer (connection refused)."
    hint:
      description: What to check; null when nothing went wrong.
      type: str
      returned: always
      sample: Check that the phone is on and that the controller reaches it.
    reason:
      description: A code word for what went wrong - V(write_failed), V(bad_name), V(no_passcode), V(bad_variables), else
        the error class; null when nothing did.
      type: str
      returned: always
      sample: unreachable
    seconds:
      description: How long the phone took.
      type: float
      returned: always
      sample: 0.31
diff:
  description: With C(--diff), one entry per phone that changed since its previous backup, the changed keys as backup
    lines before and after.
  returned: in diff mode, when a phone drifted
  type: list
  elements: dict
  sample: [{before_header: gs0001 (gs0001.txt), after_header: gs0001 (gs0001.txt), before: "P30=pool.ntp.org\n",
            after: "P30=ntp.example.net\n"}]
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only

REPORT_FORMATS = ('json', 'csv', 'html')

ARGUMENT_SPEC = dict(
    backup_dir=dict(type='path', required=True),
    hosts=dict(type='list', elements='str'),
    concurrency=dict(type='int', default=200),
    deadline=dict(type='float', default=0),
    report_formats=dict(type='list', elements='str', choices=list(REPORT_FORMATS), default=list(REPORT_FORMATS)),
    return_phones=dict(type='bool', default=True),
    stats_max_names=dict(type='int', default=100),
)


def main():
    run_controller_only('fleet_config_backup', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
