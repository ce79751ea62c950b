#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fleet_firmware
short_description: Upgrade the firmware of every phone of the play in batches, from one task, and prove each upgrade
version_added: 0.3.0
description:
  - Rolling firmware upgrade of many phones from a single task on the controller, on the same engine as
    M(phonefleet.grandstream.fleet_reboot) (batches, canary, failure limit, maintenance window, calls, ledger and
    resume, reports). The task runs once whatever C(forks) is.
  - B(Targets.) O(targets) maps model patterns to the version to install and the URL of the directory that holds the
    images, for example C({"GXP16*":{"version":"1.0.7.81","url":"http://fw.example.net/gxp16xx/1.0.7.81"}}). Patterns are
    shell-style and case-insensitive; the first one that matches the phone's model, in the order written, applies. A
    phone whose model no pattern matches is V(not_attempted) with the reason V(no_target) and is not touched.
  - B(Preflight.) Every phone is read at once with one web login (settings need it on every phone), for its model, its
    firmware version, its lines and accounts, and its firmware settings (server path C(P192), protocol C(P6767) or
    C(P212), file prefix and postfix C(P232)/C(P233), firmware check at boot C(P238), DHCP override C(P145), upgrade
    confirmation C(P8375)). A phone at or above its target version is V(already_current) and is never rebooted. A
    phone that does not answer is V(unreachable), one that rejects the password V(auth_failed); a phone whose model or
    version cannot be read, or whose settings would stall the upgrade while O(fix_settings=false), is V(blocked) with
    the reason; none of them is touched.
  - B(Images first.) Before anything is sent to any phone, every image the phones will fetch,
    C(<url>/<image name>) (C(gxp1600fw.bin) for every GXP16xx, C(gxp2170fw.bin), C(gxp2140fw.bin), C(grp2600fw.bin) for
    GRP2601-2604, C(grp2610fw.bin) for GRP261x), must answer a C(HEAD) (or a one-byte ranged C(GET)) from the controller
    within O(image_check_timeout); a missing image fails the task naming its URL, and nothing is sent. A model whose
    image name is not documented, and a TFTP URL, cannot be checked; a warning says so, nothing is guessed.
  - B(The change.) Per phone, right before its reboot, the firmware server path C(P192) (the URL's host, port and path,
    without the scheme) and the protocol (C(P6767), or C(P212) on GXP21xx firmware below 1.0.11, where it also sets the
    configuration protocol; V(0) TFTP, V(1) HTTP, V(2) HTTPS, from the URL's scheme) are written, and with
    O(fix_settings) the settings that would stall the upgrade (C(P238) to V(0), C(P8375) to V(0), C(P145) to V(0),
    C(P232)/C(P233) emptied). Every value written is read back; a phone whose value did not stick (a cloud service owns
    its provisioning, a user-role login...) is V(failed) with the reason V(settings_not_applied), the key named, and is
    never rebooted. Then REBOOT. These settings stay so on the phone afterwards.
  - B(Verification.) An upgrade counts only when the phone went down (within O(down_timeout)), answered again (within
    O(reboot_timeout)), reported the target version (its web login's C(ver), else C(P68)) within O(upgrade_timeout)
    after the command, and registered again the accounts registered before (within O(registration_timeout) after it
    reported the version). A phone may go down twice (the reboot, then the reboot into the new image after the flash)
    and may answer on its old version in between; only when O(upgrade_timeout) has passed is a phone on its old version
    V(kept_old_version), with what to check (the image, its checksum, the server seen from the phone's network, DHCP
    option 66/43).
  - B(Batches, calls, stops.) As M(phonefleet.grandstream.fleet_reboot), O(batch_size) phones at a time after an
    optional O(canary) batch, the lines read again right before each reboot (O(busy_policy)), no further batch when more
    than O(max_fail_percent) percent of the phones attempted failed or outside the maintenance O(window).
  - B(Resume.) A ledger in O(state_dir), named after O(run_id), records each phone right before its settings and its
    reboot go out, when it is seen going down, and its outcome. Running again with the same O(run_id) reports phones
    upgraded earlier in the run as V(already_current) without contacting them, keeps a failure that a finished check
    recorded (final for the run id), and never reboots a phone twice; a phone whose reboot went out, or may have, before an
    interruption is checked instead. Seen going down, it must come back on the target version as usual; found on the
    target version, its upgrade is proven by its version; otherwise, when nobody saw it restart, it is V(failed) with
    the reason V(unverified). A run id never resumes under another kind of change (a rolling reboot's ledger is refused).
  - B(Lock.) One firmware upgrade at a time per O(state_dir) (C(firmware_upgrade.lock)), whatever its run id.
  - Outcomes are V(upgraded), V(already_current), V(kept_old_version), V(blocked), V(skipped_busy), V(failed),
    V(unreachable), V(auth_failed) and V(not_attempted); each phone also has a C(reason), an C(error_class),
    C(from_version), C(version) (what it reports now, as far as the run read it) and C(target_version), see RV(phones).
  - The task itself does not fail because of phones; it returns RV(summary) and RV(problems). The role
    P(phonefleet.grandstream.firmware_upgrade#role) turns them into a failed play.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details:
      - Only the preflight, the image check and the plan run; no setting is written, no phone is rebooted and the ledger
        is not written.
      - The plan is written to C(firmware_upgrade.plan.json) in O(report_dir), never over the reports of the last real run.
  diff_mode:
    support: none
options:
  targets:
    description:
      - Model pattern (shell-style, case-insensitive, first match wins) to C(version) (dotted, V(1.0.7.81)) and C(url)
        (C(http://), C(https://) or C(tftp://) host, optional port, path of the directory that holds the images; no user
        name, password, query or fragment; host and path at most 256 characters).
    type: dict
    required: true
  fix_settings:
    description:
      - Set right the settings that would stall the upgrade (C(P238) firmware check at boot to V(0), C(P8375) upgrade
        confirmation to V(0), C(P145) DHCP override to V(0), C(P232)/C(P233) file prefix and postfix emptied), read back
        like every value written. They stay so on the phone.
      - V(false) leaves them alone and makes a phone that has one of them V(blocked) (reason V(stalling_settings)), each
        setting named.
    type: bool
    default: true
  image_check:
    description:
      - Check from the controller, before anything is sent, that every image the phones will fetch answers on its
        server. Turn it off only when the controller cannot reach the server the phones reach.
    type: bool
    default: true
  image_check_timeout:
    description: Seconds one image check may take in all (connect, answer); a server that is slower fails the check.
    type: float
    default: 10
  image_validate_certs:
    description: Check the certificate of an C(https) firmware server during the image check.
    type: bool
    default: true
  hosts:
    description:
      - Inventory names of the phones to upgrade, in this order.
      - When omitted, the hosts of the play that have not failed (C(ansible_play_hosts), so C(--limit) applies).
    type: list
    elements: str
  run_id:
    description:
      - Names the run and its ledger (C(<state_dir>/<run_id>.json)). Run again with the same id to resume.
      - 1 to 128 letters, digits, C(.), C(_) or C(-).
      - When omitted, the controller's local date C(YYYY-MM-DD) (inside a O(window) that crosses midnight, the date on
        which the window opened).
    type: str
  state_dir:
    description:
      - Directory of the ledgers and of the lock C(firmware_upgrade.lock), created when missing. Keep it on persistent
        storage.
      - When omitted, C(firmware_upgrade) in the per-user state directory (E(GRANDSTREAM_STATE_DIR), else
        C($XDG_STATE_HOME/phonefleet.grandstream), else C(~/.local/state/phonefleet.grandstream)).
    type: path
  batch_size:
    description: Phones per batch, a count (V(20)) or a percentage (V(10%), rounded up) of every phone of the run.
    type: raw
    default: '10%'
  canary:
    description: Size of a first batch (count or percentage) that must fully succeed, or the run stops. V(0) means none.
    type: raw
    default: 0
  batch_pause:
    description: Seconds to wait between two batches.
    type: float
    default: 0
  busy_policy:
    description:
      - What to do with a phone in a call. V(wait) moves it to a later batch until O(busy_timeout), then it is
        V(skipped_busy); V(skip) skips it at once; V(force) upgrades it anyway (the call drops).
    type: str
    choices: [wait, skip, force]
    default: wait
  busy_timeout:
    description: With O(busy_policy=wait), how long a phone may stay in a call before it is V(skipped_busy).
    type: float
    default: 300
  down_timeout:
    description: Seconds after the reboot command within which the phone must stop answering.
    type: float
    default: 120
  reboot_timeout:
    description:
      - Seconds after the reboot command within which the phone must answer again. A phone that flashes before its web
        server starts stays dark for the download and the flash too.
    type: float
    default: 1200
  upgrade_timeout:
    description:
      - Seconds after the reboot command within which the phone must report the target version (the download, the
        flash and the reboot into the new image). At least O(reboot_timeout).
      - A phone still on its old version then is V(kept_old_version).
    type: float
    default: 1800
  registration_timeout:
    description: Seconds after the phone reported the target version within which its previously registered accounts
      must register again.
    type: float
    default: 300
  poll_interval:
    description:
      - The longest wait, in seconds, between two registration polls of a phone that stays unregistered, between two
        version reads (at least one second apart, each a new web login), and between two looks at phones in a call.
      - While the phone goes down and comes back, its web port is tried every half second (a bare TCP connect).
    type: float
    default: 5
  connect_timeout:
    description: Seconds one look at an upgrading phone (a version read, a registration poll) may take.
    type: float
    default: 5
  max_fail_percent:
    description:
      - Start no further batch when more than this percentage of the phones attempted so far failed (any outcome but
        V(upgraded) of a phone sent a change). V(0) stops after any failure; V(100) never stops.
    type: float
    default: 10
  window:
    description: Daily maintenance window C(HH:MM-HH:MM) in the controller's local time; no batch starts outside it.
    type: str
  concurrency:
    description: How many phones are contacted at the same time (preflight, changes, probes).
    type: int
    default: 50
  report_dir:
    description: Directory for the reports, created when missing. When omitted, no report is written.
    type: path
  report_formats:
    description:
      - V(json) C(firmware_upgrade.json), V(junit) C(firmware_upgrade.junit.xml), V(csv) C(firmware_upgrade.csv), V(html)
        C(firmware_upgrade.html). In check mode only the plan is written, C(firmware_upgrade.plan.json).
    type: list
    elements: str
    choices: [json, junit, csv, html]
    default: [json, junit, csv, html]
  return_phones:
    description: Return the per-phone results in RV(phones); set to V(false) for large fleets.
    type: bool
    default: true
notes:
  - Runs on the controller only, inside the Ansible worker. C(delegate_to) is not supported.
  - The image check is the only request that goes to the firmware server; the phones fetch their images themselves.
  - The passwords never appear in the output, the reports or the ledger.
seealso:
  - module: phonefleet.grandstream.fleet_reboot
  - module: phonefleet.grandstream.phone_config
  - name: The firmware_upgrade role
    description: Defaults, set_stats for AWX workflows, and a failed play when the run stops or phones fail.
    link: https://github.com/phonefleet/grandstream/blob/main/roles/firmware_upgrade/README.md
"""

EXAMPLES = r"""
- name: Upgrade the GXP16xx below 1.0.7.81 (CVE-2026-2329), 20 at a time after a canary of 2
  phonefleet.grandstream.fleet_firmware:
    targets:
      "GXP16*":
        version: 1.0.7.81
        url: https://fw.example.net/grandstream/1.0.7.81
    batch_size: 20
    canary: 2
    window: "01:00-05:00"
    state_dir: /var/lib/phonefleet/state
    report_dir: /var/lib/phonefleet/firmware
  run_once: true
  register: firmware

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ firmware.msg }}"
  run_once: true
"""

RETURN = r"""
summary:
  description: Counts per outcome and what happened to the run (the same fields as the rolling reboot's).
  returned: always
  type: dict
  sample: {upgraded: 180, already_current: 15, kept_old_version: 1, blocked: 1, skipped_busy: 1, failed: 1, unreachable: 1,
           auth_failed: 0, not_attempted: 0, total: 200, run_id: '2026-03-01', kind: firmware, stopped: false,
           stopped_reason: null, stop_message: null, check_mode: false, resumed: false, preflight_failed: 0,
           reasons: {old_version: 1, stalling_settings: 1, busy: 1, never_up: 1, unreachable: 1}, attempted: 182,
           failed_percent: 1.1, batch_size: 20, canary: 2, batches_planned: 10, batches_run: 10,
           started_at: '2026-03-01T01:00:02Z', finished_at: '2026-03-01T02:12:40Z', duration_seconds: 4358.2,
           ledger: /var/lib/phonefleet/state/2026-03-01.json}
problems:
  description: Names of the phones whose outcome is V(kept_old_version), V(blocked), V(failed), V(unreachable) or
    V(auth_failed) (RV(msg) gives each one's reason).
  returned: always
  type: list
  elements: str
  sample: [gxp-0042]
stopped_reason:
  description: Same as C(summary.stopped_reason) (V(canary), V(max_fail_percent), V(window) or null).
  returned: always
  type: str
  sample: null
run_id:
  description: The run id.
  returned: always
  type: str
  sample: '2026-03-01'
plan:
  description: The plan printed before the first batch.
  returned: always
  type: dict
  sample: {eligible: 184, batches: 10, batch_size: 20, canary: 2, verify_first: 0, busy_deferred: 1,
           max_seconds_per_batch: 2100, max_seconds: 21000, batches_planned: 10}
ledger:
  description: Path of the ledger.
  returned: always
  type: str
  sample: /var/lib/phonefleet/state/2026-03-01.json
phones:
  description: One entry per phone, in the order of O(hosts).
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample:
    - {name: gxp-0042, host: 10.1.4.42, port: 80, site: hq, outcome: kept_old_version, reason: old_version, error_class: null,
       batch: 3, model: GXP1628, from_version: 1.0.7.79, version: 1.0.7.79, target_version: 1.0.7.81,
       timings: {down_after: 2.1, up_after: 64.3, version_after: null, registered_after: null, busy_wait: null},
       error: "gxp-0042 (10.1.4.42): the phone came back on its old firmware 1.0.7.79, not 1.0.7.81 ...",
       note: "Set before the reboot, and left so on the phone: P192 'fm.grandstream.com/gs' -> 'fw.example.net/gxp16xx/1.0.7.81'."}
  contains:
    outcome:
      description: V(upgraded), V(already_current), V(kept_old_version), V(blocked), V(skipped_busy), V(failed),
        V(unreachable), V(auth_failed) or V(not_attempted).
      type: str
      returned: always
      sample: upgraded
    reason:
      description:
        - Why the phone was not upgraded; null for V(upgraded) and V(already_current).
        - V(old_version) (V(kept_old_version)); V(other_version) (it came back on neither its old nor the target
          version), V(version_unknown), V(never_down), V(never_up), V(unregistered), V(settings_not_applied) (a value
          written did not read back, not rebooted), V(unverified) (V(failed)).
        - V(stalling_settings), V(model_unknown), V(version_unknown), V(settings_unknown) (V(blocked)); V(no_target),
          V(canary), V(max_fail), V(window), V(check_mode), V(interrupted) (V(not_attempted)); V(busy)
          (V(skipped_busy)); a CTI error class when the preflight failed.
      type: str
      returned: always
      sample: old_version
    from_version:
      description: The version the phone ran before the upgrade (from the preflight, or the ledger of the run id).
      type: str
      returned: always
      sample: 1.0.7.79
    version:
      description: The version the phone reported last in this run (after its upgrade, or at the preflight when it was
        not touched); null when not read.
      type: str
      returned: always
      sample: 1.0.7.81
    target_version:
      description: The version of the target that applies to the phone's model; null when none does.
      type: str
      returned: always
      sample: 1.0.7.81
    model:
      description: The model the phone reports.
      type: str
      returned: always
      sample: GXP1628
    note:
      description: What else happened, for example which settings were written before the reboot.
      type: str
      returned: always
      sample: null
report_files:
  description: Path of every report written, by format (in check mode, C(plan)).
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/firmware/firmware_upgrade.json}
msg:
  description: One paragraph for people.
  returned: always
  type: str
  sample: "Firmware upgrade 2026-03-01: 180 of 200 phones upgraded, 15 already_current, 1 kept_old_version, ..."
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import (
    FIRMWARE_OPTIONS, REPORT_FORMATS, rolling_argument_spec,
)

# One table of options and defaults (module_utils/rolling_options); the report registry is
# plugin_utils/change_firmware.FIRMWARE_REPORTS (a unit test keeps both equal, and the role's defaults with them).
ARGUMENT_SPEC = rolling_argument_spec(FIRMWARE_OPTIONS)
__all__ = ['ARGUMENT_SPEC', 'REPORT_FORMATS']


def main():
    run_controller_only('fleet_firmware', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
