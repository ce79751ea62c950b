#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fleet_registration_info
short_description: Audit the SIP registration of every phone of the play from one task
version_added: 0.1.0
description:
  - Reads the accounts (C(api-get_accounts)) and the phone status (C(api-get_phone_status)) of many phones at once,
    from a single task on the controller, and classifies every phone as V(registered), V(unregistered), V(unreachable),
    V(auth_failed), V(locked), V(forbidden) or V(error).
  - The phones are the play's hosts (C(ansible_play_hosts), so C(--limit) applies) unless O(hosts) names others.
    Each phone's connection settings come from its host variables, exactly as for the per-phone modules
    (C(ansible_host), C(grandstream_port), C(grandstream_scheme), C(grandstream_passcode), C(grandstream_validate_certs),
    C(grandstream_ca_path), C(grandstream_timeout), then E(GRANDSTREAM_PASSCODE)); C(site) and C(model) label the reports.
  - Up to O(concurrency) phones are read at the same time, so a thousand phones take seconds, not minutes.
    The task runs once whatever the number of phones; use it with C(run_once=true).
  - A phone is V(registered) when every required account is registered. Required accounts are O(accounts), or by default
    every configured account (non-empty C(sip_id)); a phone without any configured account is V(unregistered).
  - The phone status is read only after the accounts answered, so a wrong passcode is tried once per phone
    (five wrong passcodes lock a phone). A phone that does not support C(api-get_phone_status) is still classified by its accounts.
  - A phone without a passcode (neither C(grandstream_passcode) nor E(GRANDSTREAM_PASSCODE)) is sent nothing; it is
    V(auth_failed) with the RV(phones[].reason) V(no_passcode), and the message names such phones once.
  - When C(ansible-playbook) is killed (SIGKILL), the audit stops contacting phones within a second and writes no report.
  - With O(report_dir), writes the audit reports there (JSON, CSV, JUnit XML, HTML, Prometheus textfile; see O(report_formats)).
    The set is replaced as a whole or not at all. When one file cannot be written (a full disk, a read-only directory)
    the reports of the previous run stay as they were and the task fails saying so.
  - With O(report_dir), compares the audit with the previous C(registration_audit.json) of that directory, read before the
    new reports replace it, and says what changed in RV(changes) (phones newly unregistered, newly unreachable or newly
    failing a posture check, and phones fixed since). A previous report that cannot be used (too big, not a report of
    this collection, a field of the wrong type) is a warning, never a failure.
  - The role P(phonefleet.grandstream.registration_audit#role) wraps this module with a compliance threshold, C(set_stats) and a summary.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details: The phones are only read. Reports are written in check mode too, because they change nothing on any phone.
  diff_mode:
    support: none
options:
  hosts:
    description:
      - Inventory names of the phones to audit.
      - When omitted, the hosts of the play that have not failed (C(ansible_play_hosts)).
    type: list
    elements: str
  accounts:
    description:
      - Account numbers (the C(id) of an account, starting at 1) that must be registered on every phone.
      - When empty, every configured account (non-empty C(sip_id)) must be registered.
      - A required account that the phone does not list, or that is not configured, makes the phone V(unregistered).
    type: list
    elements: int
    default: []
  concurrency:
    description:
      - How many phones are read at the same time.
      - Each phone being read holds one socket, so the value is capped below the controller's open-file limit
        (C(ulimit -n)), with a warning.
    type: int
    default: 200
  device:
    description:
      - Also read what each phone is in the same visit, for the firmware check and the reports. The model comes from
        C(/json/configs/model.define.js) (no login, one more request) and, for phones with C(grandstream_auth) V(session)
        or V(session_plain), the firmware, MAC address and factory-password flag from the login answer.
      - The passcode dialect of the CTI guide does not report the firmware; without O(posture) such phones show
        C(firmware) null, and their firmware verdict is V(unknown) when a minimum applies to their model. With O(posture)
        (the default) every phone logs in to its web interface, and tells them.
      - O(posture) needs what the phone is, so it reads it even when this is V(false); the model then comes with the
        settings read (P89) instead of C(model.define.js), which spares a request.
    type: bool
    default: true
    version_added: 0.2.0
  firmware_minimum:
    description:
      - 'The minimum firmware per model, as shell-style model patterns (case-insensitive) mapped to dotted versions, for
        example V({"GXP16*": "1.0.7.81", "GRP26*": "1.0.5.67"}) (GXP16xx below 1.0.7.81 are open to CVE-2026-2329).'
      - The first pattern that matches a phone's model, in the order written, applies; versions compare as dotted numbers.
      - A phone gets C(firmware_status) V(compliant), V(outdated), V(unknown) (no model, no firmware, or a firmware that is
        not a dotted version, never guessed) or V(no_rule); V(not_checked) for every phone when this is empty.
    type: dict
    default: {}
    version_added: 0.2.0
  fail_on_firmware:
    description:
      - Count a phone below its minimum firmware as a failure in the JUnit report.
      - The role P(phonefleet.grandstream.registration_audit#role) uses it to fail the play after the reports are written.
    type: bool
    default: false
    version_added: 0.2.0
  posture:
    description:
      - Also judge each phone's security posture in the same visit, as seven checks in RV(phones[].posture),
        V(factory_password), V(firmware_cve), V(tr069_enabled), V(provisioning_plain), V(web_plain_http),
        V(ssh_enabled) and V(cti_open), each V(pass), V(fail) or V(unknown) with the reason.
      - Each phone is logged in to its web interface once (the same password as its CTI passcode; a web-session phone
        uses the login its CTI already made) and its security settings are read in one request
        (P1650, P276, P32050, P32052, P1409, P4503, P6767, P212, P240, P89, and P68 when the login did not tell the
        firmware). Nothing is written. The settings form is the one the inventory's C(model) says, else the JSON one
        first (a phone that answers it with a 404 is read with the other).
      - Settings are interpreted per model line (P1650 and P276 have opposite polarities on WP8xx and GRP/GXP phones);
        a value the collection cannot interpret for the model is V(unknown), never a guess. The table and its sources
        are in the collection's C(docs/posture.md).
      - Set to V(false) to skip the web login and the settings read; the rows then have no C(posture) and the audit costs
        what it did before 0.3.0.
    type: bool
    default: true
    version_added: 0.3.0
  fail_on_posture:
    description:
      - Posture checks whose failure counts as a failure of the phone in the JUnit report, and whose failing phones
        RV(posture_failed) lists.
      - The role P(phonefleet.grandstream.registration_audit#role) fails the play (after the reports are written) when
        a phone fails one of them.
      - Needs O(posture=true).
    type: list
    elements: str
    choices: [factory_password, firmware_cve, tr069_enabled, provisioning_plain, web_plain_http, ssh_enabled, cti_open]
    default: []
    version_added: 0.3.0
  cves:
    description:
      - Firmware CVEs the check V(firmware_cve) knows, besides the ones the collection ships
        (V(CVE-2026-2329), GXP1610, GXP1615, GXP1620, GXP1625, GXP1628 and GXP1630 below 1.0.7.81).
      - 'Each entry: C(id) (the CVE name), C(models) (model names or shell-style patterns, case-insensitive), C(fixed)
        (the first firmware that is not affected, a dotted version), optionally C(summary) and C(source). An entry with
        the C(id) of a shipped one replaces it. Example: V([{"id": "CVE-2026-9999", "models": ["GRP26*"],
        "fixed": "1.0.7.10", "summary": "example"}]).'
      - A malformed entry fails the task before any phone is contacted, naming the entry and the field.
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
  deadline:
    description:
      - Seconds the whole audit may take; phones not read by then are reported with status V(error)
        (C(error_class) V(not_attempted) or V(interrupted)).
      - V(0) means no deadline; each request is still bounded by the phone's C(grandstream_timeout).
    type: float
    default: 0
  report_dir:
    description:
      - Directory in which to write the reports (created when missing). A relative path is relative to the directory
        C(ansible-playbook) runs in.
      - When omitted, no report is written.
    type: path
  report_formats:
    description:
      - Which reports to write into O(report_dir).
      - V(json) C(registration_audit.json), V(csv) C(registration_audit.csv), V(junit) C(registration_audit.junit.xml),
        V(html) C(registration_audit.html), V(prometheus) C(registration_audit.prom) (for node_exporter's textfile collector).
    type: list
    elements: str
    choices: [json, csv, junit, html, prometheus]
    default: [json, csv, junit, html, prometheus]
  prometheus_dir:
    description:
      - Directory for C(registration_audit.prom) instead of O(report_dir), for example node_exporter's
        C(--collector.textfile.directory).
    type: path
  return_phones:
    description:
      - Return the per-phone results in RV(phones).
      - Set to V(false) for large fleets when the reports are enough, to keep the task result (and C(-v) output) small.
    type: bool
    default: true
  stats_max_names:
    description:
      - How many phone names each list of RV(stats) holds (RV(stats.non_compliant), RV(stats.firmware_outdated)); the
        full counts are beside them.
    type: int
    default: 100
    version_added: 0.2.0
notes:
  - Runs on the controller only, inside the Ansible worker (no module process, no connection to the phones' hosts).
    C(delegate_to) is not supported.
  - The passcodes never appear in the result or the reports.
seealso:
  - module: phonefleet.grandstream.accounts_info
  - module: phonefleet.grandstream.phone_status_info
  - name: The registration_audit role
    description: Compliance threshold, reports, set_stats for AWX workflows.
    link: https://github.com/phonefleet/grandstream/blob/main/roles/registration_audit/README.md
"""

EXAMPLES = r"""
- name: Audit every phone of the play and write all reports
  phonefleet.grandstream.fleet_registration_info:
    report_dir: /var/lib/phonefleet/audit
  run_once: true
  register: audit

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ audit.msg }}"
  run_once: true

- name: Only account 1 must be registered; JSON and the Prometheus textfile only
  phonefleet.grandstream.fleet_registration_info:
    accounts: [1]
    report_dir: reports
    report_formats: [json, prometheus]
    prometheus_dir: /var/lib/node_exporter/textfile_collector
    return_phones: false
  run_once: true

- name: Audit one group from a play on localhost, 100 phones at a time, at most 10 minutes
  phonefleet.grandstream.fleet_registration_info:
    hosts: "{{ groups['site_hq'] }}"
    concurrency: 100
    deadline: 600
  register: hq_audit
"""

RETURN = r"""
summary:
  description: Counts per status and the share of registered phones.
  returned: always
  type: dict
  sample: {total: 1000, registered: 990, unregistered: 6, unreachable: 2, auth_failed: 1, locked: 0, forbidden: 0, error: 1,
           compliance_percent: 99.0}
  contains:
    total:
      description: Phones audited.
      type: int
      returned: always
      sample: 1000
    registered:
      description: Phones whose required accounts are all registered.
      type: int
      returned: always
      sample: 990
    unregistered:
      description: Phones that answered but have a required account not registered, or none configured.
      type: int
      returned: always
      sample: 6
    unreachable:
      description: Phones that did not answer (refused, timed out, reset).
      type: int
      returned: always
      sample: 2
    auth_failed:
      description: Phones that rejected the passcode.
      type: int
      returned: always
      sample: 1
    locked:
      description: Phones locked after repeated wrong passcodes.
      type: int
      returned: always
      sample: 0
    forbidden:
      description: Phones whose CTI is disabled or does not allow the controller.
      type: int
      returned: always
      sample: 0
    error:
      description: Phones that answered something else than CTI, or could not be audited.
      type: int
      returned: always
      sample: 1
    compliance_percent:
      description: Registered phones in percent of the phones audited, rounded down to two decimals (100 for no phone).
      type: float
      returned: always
      sample: 99.0
    firmware_outdated:
      description: Phones below the minimum firmware of their model (O(firmware_minimum)).
      type: int
      returned: always
      sample: 3
      version_added: 0.2.0
    firmware_unknown:
      description: Phones whose firmware verdict is unknown (model or firmware unknown, or not a dotted version).
      type: int
      returned: always
      sample: 12
      version_added: 0.2.0
    default_password:
      description: Phones that report they still have the factory password.
      type: int
      returned: always
      sample: 1
      version_added: 0.2.0
    posture:
      description: Per posture check, how many phones V(pass), V(fail) and are V(unknown).
      type: dict
      returned: when O(posture=true)
      sample: {factory_password: {pass: 998, fail: 2, unknown: 0}, ssh_enabled: {pass: 10, fail: 985, unknown: 5}}
      version_added: 0.3.0
non_compliant:
  description: Names of the phones that are not V(registered), in audit order.
  returned: always
  type: list
  elements: str
  sample: [gs0042, gs0107]
firmware_outdated:
  description: Names of the phones below the minimum firmware of their model, in audit order.
  returned: always
  type: list
  elements: str
  sample: [gs0311]
  version_added: 0.2.0
posture_failed:
  description: Names of the phones that fail a check of O(fail_on_posture), in audit order (empty when it is empty).
  returned: always
  type: list
  elements: str
  sample: [gs0311]
  version_added: 0.3.0
changes:
  description:
    - What changed since the previous report of O(report_dir) (see the C(changes) of C(registration_audit.json)).
    - C(previous) (C(finished_at), C(phones)) is null when there was nothing to compare with, and C(note) says why.
  returned: when O(report_dir) is set
  type: dict
  sample: {previous: {finished_at: '2026-03-01T02:00:04Z', phones: 1000}, note: null, newly_unregistered: [gs0042],
           newly_unreachable: [], newly_failing: {ssh_enabled: [gs0107]}, fixed: {registration: [gs0311]},
           new_phones: [], gone_phones: []}
  version_added: 0.3.0
phones:
  description: One entry per phone, in the order of O(hosts) (or of the play's hosts).
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample:
    - name: gs0042
      host: 10.1.4.42
      port: 80
      site: hq
      model: GRP2614
      status: unregistered
      compliant: false
      reachable: true
      accounts: [{id: 1, name: office, sip_id: '1042', sip_server: pbx.example.net, configured: true, registered: false}]
      phone_status: available
      error: account 1 (1042@pbx.example.net) is not registered.
      hint: Check the account's SIP server and credentials on the phone, and that the phone reaches the SIP server (VLAN, DNS, firewall).
      seconds: 0.104
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
      description: The model the phone reports, else its C(model) host variable; null when neither tells.
      type: str
      returned: always
      sample: GRP2614
    model_source:
      description: Where RV(phones[].model) comes from, V(phone) or V(inventory); null when unknown.
      type: str
      returned: always
      sample: phone
      version_added: 0.2.0
    firmware:
      description: The firmware version the phone reports (session dialects); null when unknown.
      type: str
      returned: always
      sample: 1.0.3.35
      version_added: 0.2.0
    mac:
      description: The MAC address the phone reports (session dialects); null when unknown.
      type: str
      returned: always
      sample: 00:0B:82:12:34:56
      version_added: 0.2.0
    default_password:
      description: Whether the phone still has its factory password (session dialects); null when unknown.
      type: bool
      returned: always
      sample: false
      version_added: 0.2.0
    auth:
      description: The authentication dialect the phone was read with.
      type: str
      returned: always
      sample: session
      version_added: 0.2.0
    firmware_status:
      description: V(compliant), V(outdated), V(unknown), V(no_rule) or V(not_checked) (see O(firmware_minimum)).
      type: str
      returned: always
      sample: compliant
      version_added: 0.2.0
    firmware_compliant:
      description: True at or above the minimum, false below it, null when not judged.
      type: bool
      returned: always
      sample: true
      version_added: 0.2.0
    firmware_minimum:
      description: The minimum that applies to the phone's model, null when none.
      type: str
      returned: always
      sample: 1.0.7.81
      version_added: 0.2.0
    firmware_reason:
      description: Why the firmware is outdated or its verdict unknown; null otherwise.
      type: str
      returned: always
      sample: firmware 1.0.7.70 is below the minimum 1.0.7.81 for GXP16*
      version_added: 0.2.0
    firmware_error:
      description: The same sentence as RV(phones[].firmware_reason), under the name every sentence of a row has.
      type: str
      returned: always
      sample: firmware 1.0.7.70 is below the minimum 1.0.7.81 for GXP16*
      version_added: 0.2.0
    status:
      description: One of V(registered), V(unregistered), V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error).
      type: str
      returned: always
      sample: unregistered
    compliant:
      description: Whether the status is V(registered).
      type: bool
      returned: always
      sample: false
    reachable:
      description: Whether the phone answered on the network (null when it was not contacted).
      type: bool
      returned: always
      sample: true
    accounts:
      description: The phone's accounts (C(id), C(name), C(sip_id), C(sip_server), C(configured), C(registered)); empty when not read.
      type: list
      elements: dict
      returned: always
      sample: [{id: 1, name: office, sip_id: '1042', sip_server: pbx.example.net, configured: true, registered: false}]
    phone_status:
      description: What C(api-get_phone_status) answered (V(available), V(busy), ...), null when not read.
      type: str
      returned: always
      sample: available
    error:
      description: Why the phone is not compliant, one sentence; null when it is.
      type: str
      returned: always
      sample: account 1 (1042@pbx.example.net) is not registered.
    reason:
      description:
        - Why the phone is not compliant, a code word; null when it is. V(account_not_registered), V(account_missing),
          V(account_not_configured), V(no_account) for V(unregistered); V(no_passcode) (nothing was sent, no passcode is
          set for the phone) and V(bad_variables) (its connection variables are unusable); otherwise the error class
          (V(unreachable), V(auth_failed), V(locked), V(forbidden), V(error), V(rejected), V(not_attempted), V(interrupted)).
      type: str
      returned: always
      sample: account_not_registered
      version_added: 0.2.0
    hint:
      description: What to check; null when the phone is compliant.
      type: str
      returned: always
      sample: Check the passcode (grandstream_passcode / GRANDSTREAM_PASSCODE).
    http_status:
      description: HTTP status of the failed answer, when there was one.
      type: int
      returned: when the phone answered with an error
      sample: 403
    seconds:
      description: Time spent on this phone.
      type: float
      returned: always
      sample: 0.104
    posture:
      description:
        - The security posture checks, each C({result, reason}) with C(result) V(pass), V(fail) or V(unknown) and
          C(reason) a sentence; V(firmware_cve) also has C(cves) (the CVE names) when it fails.
        - Every check is V(unknown) with why when the phone could not be read.
      type: dict
      returned: when O(posture=true)
      sample: {factory_password: {result: pass, reason: 'the factory password was changed (defaultAuth: false)'},
               ssh_enabled: {result: fail, reason: SSH is on (P276 = 0 on GRP2614)}}
      version_added: 0.3.0
stats:
  description:
    - What the role P(phonefleet.grandstream.registration_audit#role) publishes with C(set_stats) (key C(registration_audit)).
    - The summary, each list of phone names cut at O(stats_max_names) with its full count, and the report files.
  returned: always
  type: dict
  sample: {summary: {total: 1000, registered: 990}, non_compliant: [gs0042], non_compliant_count: 10, firmware_outdated: [],
           firmware_outdated_count: 0, report_files: {json: /var/lib/phonefleet/audit/registration_audit.json}}
  version_added: 0.2.0
  contains:
    summary:
      description: The same as RV(summary).
      type: dict
      returned: always
    non_compliant:
      description: The first O(stats_max_names) names of RV(non_compliant).
      type: list
      elements: str
      returned: always
      sample: [gs0042]
    non_compliant_count:
      description: How many phones RV(non_compliant) names.
      type: int
      returned: always
      sample: 10
    firmware_outdated:
      description: The first O(stats_max_names) names of RV(firmware_outdated).
      type: list
      elements: str
      returned: always
      sample: []
    firmware_outdated_count:
      description: How many phones RV(firmware_outdated) names.
      type: int
      returned: always
      sample: 0
    posture_failed:
      description: The first O(stats_max_names) names of RV(posture_failed).
      type: list
      elements: str
      returned: always
      sample: []
      version_added: 0.3.0
    posture_failed_count:
      description: How many phones RV(posture_failed) names.
      type: int
      returned: always
      sample: 0
      version_added: 0.3.0
    report_files:
      description: The same as RV(report_files).
      type: dict
      returned: always
report_files:
  description: Path of every report written, by format.
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/audit/registration_audit.json, html: /var/lib/phonefleet/audit/registration_audit.html}
msg:
  description: One paragraph for people, with the compliance figure, the problems and the first problem phones.
  returned: always
  type: str
  sample: "Registration audit: 990 of 1000 phones registered (99% compliant). Not compliant: 6 unregistered, 2 unreachable,
    1 auth_failed, 1 error. Phones: gs0042, gs0107, ..."
duration_seconds:
  description: How long the audit took.
  returned: always
  type: float
  sample: 2.41
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only

# The report families' registry is plugin_utils/audit_reports.REGISTRATION_REPORTS (a unit test keeps both equal).
REPORT_FORMATS = ('json', 'csv', 'junit', 'html', 'prometheus')
# The posture checks are plugin_utils/audit_posture.CHECKS (a unit test keeps both equal).
POSTURE_CHECKS = ('factory_password', 'firmware_cve', 'tr069_enabled', 'provisioning_plain', 'web_plain_http', 'ssh_enabled',
                  'cti_open')

ARGUMENT_SPEC = dict(
    hosts=dict(type='list', elements='str'),
    accounts=dict(type='list', elements='int', default=[]),
    concurrency=dict(type='int', default=200),
    device=dict(type='bool', default=True),
    firmware_minimum=dict(type='dict', default={}),
    fail_on_firmware=dict(type='bool', default=False),
    posture=dict(type='bool', default=True),
    fail_on_posture=dict(type='list', elements='str', choices=list(POSTURE_CHECKS), default=[]),
    cves=dict(type='list', elements='dict', default=[]),
    deadline=dict(type='float', default=0),
    report_dir=dict(type='path'),
    report_formats=dict(type='list', elements='str', choices=list(REPORT_FORMATS), default=list(REPORT_FORMATS)),
    prometheus_dir=dict(type='path'),
    return_phones=dict(type='bool', default=True),
    stats_max_names=dict(type='int', default=100),
)


def main():
    run_controller_only('fleet_registration_info', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
