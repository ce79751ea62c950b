#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: registration_report_merge
short_description: Merge the reports of a sliced registration audit into one fleet report
version_added: 0.2.0
description:
  - Reads the JSON reports (C(registration_audit.json)) that the slices of one registration audit wrote, for example the
    jobs of a sliced AWX job template or runs with C(--limit), and writes the same set of reports for the whole fleet
    (JSON, CSV, JUnit XML, HTML, Prometheus textfile) with the summary counted again.
  - Refuses, before writing anything, a file that is not a registration audit report of this collection (another schema,
    a version it does not know, not JSON, nested beyond reason, a field of the wrong type), a phone that is in two slices
    (a slice merged twice, an old report left in the directory), and slices of different audits (other required
    accounts or firmware minimums). Each refusal names the file, the phone and the field.
  - The merged set is replaced as a whole or not at all, as the audit's.
  - Talks to no phone; runs on the controller only.
  - The role P(phonefleet.grandstream.registration_audit#role) (entry point C(merge)) and the playbook
    C(phonefleet.grandstream.registration_audit_merge) wrap it with the compliance threshold and C(set_stats).
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
attributes:
  check_mode:
    support: full
    details: Only reads and writes report files, in check mode too.
  diff_mode:
    support: none
options:
  inputs:
    description:
      - The slices' reports, as files or directories. A directory is searched at any depth for C(registration_audit.json),
        so the directory that holds one sub-directory per slice (C(<launch>/<job>/registration_audit.json)) is enough.
    type: list
    elements: path
    required: true
  report_dir:
    description:
      - Directory in which to write the merged reports (created when missing); reports inside it are never read as slices.
    type: path
    required: true
  report_formats:
    description: Which reports to write, as for M(phonefleet.grandstream.fleet_registration_info).
    type: list
    elements: str
    choices: [json, csv, junit, html, prometheus]
    default: [json, csv, junit, html, prometheus]
  prometheus_dir:
    description: Directory for C(registration_audit.prom) instead of O(report_dir).
    type: path
  fail_on_firmware:
    description: Count a phone below its minimum firmware as a failure in the JUnit report.
    type: bool
    default: false
  fail_on_posture:
    description:
      - Posture checks whose failure counts as a failure of the phone in the JUnit report and puts it in
        RV(posture_failed), as O(phonefleet.grandstream.fleet_registration_info#module:fail_on_posture) does.
      - Slices written without posture have nothing to fail (a warning says so).
    type: list
    elements: str
    choices: [factory_password, firmware_cve, tr069_enabled, provisioning_plain, web_plain_http, ssh_enabled, cti_open]
    default: []
    version_added: 0.3.0
  return_phones:
    description: Return the merged per-phone records in RV(phones).
    type: bool
    default: false
  stats_max_names:
    description: How many phone names each list of RV(stats) holds; the full counts are beside them.
    type: int
    default: 100
    version_added: 0.2.0
notes:
  - Each phone keeps the verdicts its slice gave it (registration status, firmware verdict, security posture); only the
    counts are made again (the posture counts too). Slices of one audit must agree on whether the posture was judged
    and against which CVEs.
  - The merged report is compared with the previous merged report of O(report_dir) (read before it is replaced), as the
    audit compares with its previous report, and says what changed in RV(changes). A previous report that cannot be used
    is a warning.
seealso:
  - module: phonefleet.grandstream.fleet_registration_info
"""

EXAMPLES = r"""
- name: Merge the slices of tonight's audit
  phonefleet.grandstream.registration_report_merge:
    inputs: [/var/lib/phonefleet/reports/registration_audit/1199]
    report_dir: /var/lib/phonefleet/reports/registration_audit_merged/1199
  register: merged
"""

RETURN = r"""
summary:
  description: The counts of the whole fleet, as in M(phonefleet.grandstream.fleet_registration_info).
  returned: always
  type: dict
  sample: {total: 3000, registered: 2990, unregistered: 6, unreachable: 2, auth_failed: 1, locked: 0, forbidden: 0, error: 1,
           compliance_percent: 99.66, firmware_outdated: 0, firmware_unknown: 12, default_password: 0}
non_compliant:
  description: Names of the phones that are not V(registered).
  returned: always
  type: list
  elements: str
  sample: [gs0042]
firmware_outdated:
  description: Names of the phones below the minimum firmware of their model.
  returned: always
  type: list
  elements: str
  sample: []
posture_failed:
  description: Names of the phones that fail a check of O(fail_on_posture).
  returned: always
  type: list
  elements: str
  sample: []
  version_added: 0.3.0
changes:
  description: What changed since the previous merged report of O(report_dir), as in
    M(phonefleet.grandstream.fleet_registration_info).
  returned: always
  type: dict
  sample: {previous: null, note: no earlier report in /var/lib/phonefleet/merged to compare with, newly_unregistered: [],
           newly_unreachable: [], newly_failing: {}, fixed: {}, new_phones: [], gone_phones: []}
  version_added: 0.3.0
stats:
  description: What the role publishes with C(set_stats), as in M(phonefleet.grandstream.fleet_registration_info).
  returned: always
  type: dict
  sample: {summary: {total: 3000, registered: 2990}, non_compliant: [gs0042], non_compliant_count: 10}
  version_added: 0.2.0
slices:
  description: The reports merged, with their phone counts and times.
  returned: always
  type: list
  elements: dict
  sample: [{file: /var/lib/phonefleet/reports/registration_audit/1199/1200/registration_audit.json, phones: 1000,
            started_at: '2026-12-03T02:00:01Z', finished_at: '2026-12-03T02:00:05Z', finished_epoch: 1796176805.0,
            duration_seconds: 4.1}]
report_files:
  description: Path of every report written, by format.
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/reports/registration_audit_merged/1199/registration_audit.json}
phones:
  description: The merged per-phone records.
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample: [{name: gs0042, status: unregistered}]
msg:
  description: One paragraph for people.
  returned: always
  type: str
  sample: "Registration audit: 2990 of 3000 phones registered (99.66% compliant). ... Merged from 3 slices."
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only

# The report family's registry is plugin_utils/audit_reports.REGISTRATION_REPORTS (a unit test keeps both equal).
REPORT_FORMATS = ('json', 'csv', 'junit', 'html', 'prometheus')
# The posture checks are plugin_utils/audit_posture.CHECKS (a unit test keeps both equal).
POSTURE_CHECKS = ('factory_password', 'firmware_cve', 'tr069_enabled', 'provisioning_plain', 'web_plain_http', 'ssh_enabled',
                  'cti_open')

ARGUMENT_SPEC = dict(
    inputs=dict(type='list', elements='path', required=True),
    report_dir=dict(type='path', required=True),
    report_formats=dict(type='list', elements='str', choices=list(REPORT_FORMATS), default=list(REPORT_FORMATS)),
    prometheus_dir=dict(type='path'),
    fail_on_firmware=dict(type='bool', default=False),
    fail_on_posture=dict(type='list', elements='str', choices=list(POSTURE_CHECKS), default=[]),
    return_phones=dict(type='bool', default=False),
    stats_max_names=dict(type='int', default=100),
)


def main():
    run_controller_only('registration_report_merge', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
