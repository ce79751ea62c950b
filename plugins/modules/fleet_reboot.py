#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fleet_reboot
short_description: Reboot every phone of the play in batches, from one task, and prove each reboot
version_added: 0.1.0
description:
  - Rolling reboot of many phones from a single task on the controller. The task runs once whatever C(forks) is; it
    contacts the phones itself with bounded concurrency (O(concurrency)).
  - B(Preflight.) Every phone is read at once (lines and accounts). A phone that does not answer is V(unreachable), one
    that rejects the passcode V(auth_failed), any other error V(failed) with the reason; none of them is sent a command.
    Two inventory names for one address (host and port) are one phone; the first name keeps it, the others are
    V(failed) with the reason V(duplicate) and get nothing. The plan (number and size of the batches, the longest
    possible duration, the ledger used) is printed; a typical ETA, from the measured batch times, follows after the first
    batch.
  - B(Batches.) Phones are rebooted O(batch_size) at a time, optionally after a O(canary) batch that must fully succeed.
    The commands of a batch go out together, and one waiter polls the whole batch; the next batch starts only when
    every phone of the current one has been proven rebooted or has failed, so never more than one batch of phones is
    rebooting. O(batch_pause) seconds separate batches. The batch count of the plan (C(Batch 3 of 5)) stays the same for
    the whole run, resumes included; a phone in a call whose turn came last may need an extra batch, which says so.
  - B(Calls.) The lines of each phone are read again right before its command. O(busy_policy=wait) moves a phone in a call
    to a later batch and looks again, until O(busy_timeout), after which it is V(skipped_busy); V(skip) skips it at once;
    V(force) reboots it anyway (the call drops).
  - B(Verification.) A rebooted phone must go down (within O(down_timeout)), come back (within O(reboot_timeout)) and
    register the accounts that were registered before (within O(registration_timeout) after it is back). Otherwise it
    is V(failed) with the reason (never went down, never came back, came back unregistered).
  - B(Stop.) No further batch starts when more than O(max_fail_percent) percent of the phones attempted so far failed,
    when a canary phone failed, or outside the maintenance O(window). Phones not reached are V(not_attempted).
  - B(Resume.) A ledger in O(state_dir), named after O(run_id), records each phone by its address (host and port, so a
    renamed inventory host is the same phone) right before its request leaves (after the last look at its lines), the
    moment it is seen going down, and its outcome; each save is atomic and fsynced, the directory too. Running again with
    the same O(run_id) reports phones rebooted earlier as V(already_done) and failures that a finished check recorded as
    V(failed) again with their reason (final for the run id; only a new run id reboots them again), and never sends a
    second command to a phone whose command went out, or may have, before an interruption. Such a phone is checked
    instead. If it was seen going down, it must come back and register as usual. If not, it is watched for going down
    until O(down_timeout) after its command; a phone that answers after that time cannot be proven to have restarted and
    is V(failed) with the reason V(unverified) (check it by hand, or reboot it with a new run id).
  - A ledger that does not read back (truncated, edited, a symbolic link) stops the task before any phone is contacted,
    naming the file and the entry; so does a ledger that another kind of rolling change wrote (a run id never resumes
    under another kind). Move the file away to start the run id over (every phone of it is rebooted again).
  - B(Lock.) One run at a time per O(state_dir), whatever its run id; a second run waits briefly (for the worker of a
    killed C(ansible-playbook) to stop), then fails before it contacts any phone, naming the other run id and process.
    Rolling reboots of different fleets that may run at the same time need different state directories. The lock and the
    ledger are never opened through a symbolic link.
  - B(Interruption.) Ctrl-C or SIGTERM stops the run cleanly; the ledger and the reports of what was done are written
    (RV(summary.stopped_reason) V(interrupted)); phones whose command was on its way are V(failed) with the reason
    V(interrupted) in the report and stay in the ledger as sent, so the next run with the same O(run_id) checks them and
    never sends them a second command; phones not reached are V(not_attempted). The output names the ledger, the report
    and the run id to resume with.
  - Outcomes are V(rebooted), V(already_done), V(skipped_busy), V(failed), V(unreachable), V(auth_failed) and
    V(not_attempted); each phone also has a C(reason) and an C(error_class), see RV(phones).
  - The task itself does not fail because of phones; it returns RV(summary) (with RV(summary.stopped_reason)) and
    RV(problems). The role P(phonefleet.grandstream.rolling_reboot#role) turns them into a failed play.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.fleet
attributes:
  check_mode:
    support: full
    details:
      - Only the preflight and the plan run; no command is sent and the ledger is not written.
      - The plan (the report's shape, phones V(not_attempted) with the batch they would be in) is written to
        C(rolling_reboot.plan.json) in O(report_dir), never over the reports of the last real run.
      - The plan says when the maintenance O(window) is closed now (a real run started now would reboot nothing).
      - Phones whose preflight fails are in the plan and in RV(problems), as in a real run; the task itself does not
        fail, and the role fails the play when the real run would.
  diff_mode:
    support: none
options:
  hosts:
    description:
      - Inventory names of the phones to reboot, in this order.
      - When omitted, the hosts of the play that have not failed (C(ansible_play_hosts), so C(--limit) applies).
    type: list
    elements: str
  run_id:
    description:
      - Names the run and its ledger (C(<state_dir>/<run_id>.json)). Run again with the same id to resume.
      - 1 to 128 letters, digits, C(.), C(_) or C(-).
      - When omitted, the controller's local date C(YYYY-MM-DD) (inside a O(window) that crosses midnight, the date on
        which the window opened). To resume on a later day, pass the id that the earlier run printed; for runs that span
        several nights (AWX schedules, cron), use a fixed id per maintenance campaign.
    type: str
  state_dir:
    description:
      - Directory of the ledgers and of the lock C(rolling_reboot.lock), created when missing. Keep it on persistent storage.
      - When omitted, C(rolling_reboot) in the per-user state directory (E(GRANDSTREAM_STATE_DIR), else
        C($XDG_STATE_HOME/phonefleet.grandstream), else C(~/.local/state/phonefleet.grandstream)), so the same run id
        resumes whatever directory the run starts from.
      - One rolling reboot at a time per directory; concurrent runs over different fleets need different directories.
    type: path
  batch_size:
    description:
      - Phones per batch, a count (V(20)) or a percentage (V(10%), rounded up) of every phone of the run, those done by an
        earlier attempt of the run id included.
    type: raw
    default: '10%'
  canary:
    description:
      - Size of a first batch (count or percentage) that must fully succeed, or the run stops. V(0) means no canary.
      - Skipped when resuming a run whose canary already succeeded.
    type: raw
    default: 0
  batch_pause:
    description: Seconds to wait between two batches.
    type: float
    default: 0
  busy_policy:
    description: What to do with a phone in a call; see the description.
    type: str
    choices: [wait, skip, force]
    default: wait
  busy_timeout:
    description: With O(busy_policy=wait), how long a phone may stay in a call (from the first time it was seen in one) before it is V(skipped_busy).
    type: float
    default: 300
  down_timeout:
    description: Seconds after the command within which the phone must stop answering.
    type: float
    default: 120
  reboot_timeout:
    description: Seconds after the command within which the phone must answer again.
    type: float
    default: 600
  registration_timeout:
    description: Seconds after the phone answers again within which its previously registered accounts must register.
    type: float
    default: 300
  poll_interval:
    description:
      - The longest wait, in seconds, between two registration polls (C(api-get_accounts)) of a phone that came back
        but stays unregistered (and between two reads of the lines with O(busy_policy=wait)).
      - While the phone goes down and comes back, its web port is tried every half second (a bare TCP connect, no
        request, so nothing counts towards a lockout); from the moment it answers, its registration is polled at once,
        then every second, and after ten seconds without registration the wait doubles up to O(poll_interval). A
        phone never gets more than one HTTP request a second.
    type: float
    default: 5
  connect_timeout:
    description: Seconds a registration poll of a rebooting phone may take; a poll without a complete answer in that
      time counts as the phone not being ready yet.
    type: float
    default: 5
  max_fail_percent:
    description:
      - Start no further batch when more than this percentage of the phones attempted so far (sent a command, or checked
        after an interruption, by this attempt) failed.
      - Phones that failed the preflight and V(unverified) phones count neither as attempted nor as failed.
      - V(0) stops after any failure; V(100) never stops.
    type: float
    default: 10
  window:
    description:
      - Daily maintenance window C(HH:MM-HH:MM) in the controller's local time, for example V(01:00-05:00); it may cross
        midnight. No batch starts outside it; a batch that started finishes.
      - Empty means no window.
    type: str
  concurrency:
    description: How many phones are contacted at the same time (preflight, commands, probes).
    type: int
    default: 50
  report_dir:
    description:
      - Directory for the reports, created when missing. When omitted, no report is written.
    type: path
  report_formats:
    description:
      - V(json) C(rolling_reboot.json), V(junit) C(rolling_reboot.junit.xml), V(csv) C(rolling_reboot.csv), V(html)
        C(rolling_reboot.html) (for a person, with the outcomes, the phones that need attention and what happened to them,
        the batches).
      - In check mode only the plan is written, C(rolling_reboot.plan.json).
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
  - Progress is printed as the phones of a batch go down, come back and register (a line when every phone of the batch
    reached a step, else at most every 15 seconds, or three O(poll_interval), while something changes), each failure as it
    happens (phone, reason, what happened), and one line when a batch finishes.
  - The passcodes never appear in the output, the reports or the ledger.
seealso:
  - module: phonefleet.grandstream.sys_operation
  - name: The rolling_reboot role
    description: Defaults, set_stats for AWX workflows, and a failed play when the run stops or phones fail.
    link: https://github.com/phonefleet/grandstream/blob/main/roles/rolling_reboot/README.md
"""

EXAMPLES = r"""
- name: Reboot the phones of the play 20 at a time, after a canary of 2
  phonefleet.grandstream.fleet_reboot:
    batch_size: 20
    canary: 2
    state_dir: /var/lib/phonefleet/state
    report_dir: /var/lib/phonefleet/reports
    window: "01:00-05:00"
  run_once: true
  register: reboot

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ reboot.msg }}"
  run_once: true
"""

RETURN = r"""
summary:
  description: Counts per outcome and what happened to the run.
  returned: always
  type: dict
  sample: {rebooted: 195, already_done: 0, skipped_busy: 2, failed: 1, unreachable: 1, auth_failed: 1, not_attempted: 0,
           total: 200, run_id: '2025-01-05', stopped: false, stopped_reason: null, stop_message: null, check_mode: false,
           resumed: false, preflight_failed: 0, reasons: {auth_failed: 1, busy: 2, unreachable: 1, unregistered: 1},
           attempted: 196, failed_percent: 0.51, batch_size: 20, canary: 2, batches_planned: 11,
           batches_run: 11, started_at: '2025-01-05T01:00:02Z', finished_at: '2025-01-05T01:42:10Z', duration_seconds: 2528.1,
           kind: reboot, ledger: /var/lib/phonefleet/state/2025-01-05.json}
  contains:
    resumed:
      description: Whether an earlier attempt of the run id had written phones into the ledger when this one started.
      type: bool
      returned: always
      sample: false
    preflight_failed:
      description:
        - Phones counted in C(failed) that were never sent a command (preflight, the last look at the lines, duplicate
          address, unusable host variables). C(failed) minus this is the number of reboots that failed.
      type: int
      returned: always
      sample: 0
    reasons:
      description: Phones per C(reason) (see RV(phones)).
      type: dict
      returned: always
      sample: {never_down: 1, busy: 2}
    attempted:
      description:
        - Phones this attempt sent a command to or checked after an interruption, V(unverified) ones excepted; the base
          of C(failed_percent) and O(max_fail_percent).
      type: int
      returned: always
      sample: 196
    total:
      description: Phones of the run.
      type: int
      returned: always
      sample: 200
    run_id:
      description: The run id (the ledger's name).
      type: str
      returned: always
      sample: '2025-01-05'
    ledger:
      description: Path of the ledger this run used.
      type: str
      returned: always
      sample: /var/lib/phonefleet/state/2025-01-05.json
    stopped_reason:
      description:
        - Why no further batch started before every phone was done; V(canary), V(max_fail_percent), V(window) or null.
        - V(interrupted) (Ctrl-C, SIGTERM, C(ansible-playbook) killed) appears in the report files only, since the task
          itself does not return then.
      type: str
      returned: always
      sample: null
    stop_message:
      description: The reason as a sentence, or null.
      type: str
      returned: always
      sample: null
problems:
  description: Names of the phones whose outcome is V(failed), V(unreachable) or V(auth_failed) (RV(msg) gives each one's reason).
  returned: always
  type: list
  elements: str
  sample: [gs0042]
stopped_reason:
  description: Same as RV(summary.stopped_reason).
  returned: always
  type: str
  sample: window
run_id:
  description: The run id.
  returned: always
  type: str
  sample: '2025-01-05'
plan:
  description: The plan printed before the first batch.
  returned: always
  type: dict
  sample: {eligible: 196, batches: 11, batch_size: 20, canary: 2, verify_first: 0, busy_deferred: 1,
           max_seconds_per_batch: 900, max_seconds: 9900, batches_planned: 11, window_open: true}
  contains:
    batches_planned:
      description: The batch count of the run ("Batch 3 of 11"), fixed when its run id was first planned.
      type: int
      returned: always
      sample: 11
    window_open:
      description: Whether the maintenance O(window) was open when the plan was made.
      type: bool
      returned: when O(window) is set
      sample: true
ledger:
  description: Path of the ledger.
  returned: always
  type: str
  sample: /var/lib/phonefleet/state/2025-01-05.json
phones:
  description: One entry per phone, in the order of O(hosts).
  returned: when O(return_phones=true)
  type: list
  elements: dict
  sample:
    - {name: gs0042, host: 10.1.4.42, port: 80, site: hq, outcome: failed, reason: unregistered, error_class: null, batch: 3,
       timings: {down_after: 2.1, up_after: 64.3, registered_after: null, busy_wait: null},
       error: "gs0042 (10.1.4.42): the phone rebooted and answers again, but account 1 did not register within
               registration_timeout (300 s). Check the SIP server and the phone network.", note: null}
  contains:
    outcome:
      description: V(rebooted), V(already_done), V(skipped_busy), V(failed), V(unreachable), V(auth_failed) or V(not_attempted).
      type: str
      returned: always
      sample: failed
    reason:
      description:
        - Why the phone was not rebooted; null for V(rebooted) and V(already_done).
        - Before any command (preflight, last look at the lines) the CTI error class V(unreachable), V(auth_failed),
          V(locked), V(forbidden), V(error); V(duplicate) (another inventory name has its address); V(variables) (its
          host variables are unusable).
        - After the command V(never_down), V(never_up), V(unregistered), V(rejected) (the phone refused the command), a
          CTI error class (the passcode stopped working while it was watched); V(unverified) (its command went out
          before an interruption and nobody saw it restart).
        - V(busy) (V(skipped_busy)); for V(not_attempted) V(canary), V(max_fail), V(window) or V(check_mode).
        - V(interrupted) in the report of an interrupted run, V(failed) when its command was on its way (the next run
          checks it), V(not_attempted) when it was not reached.
        - On a re-run of the same run id, a failure recorded by an earlier attempt keeps its reason.
      type: str
      returned: always
      sample: unregistered
    error_class:
      description: The CTI error class when a CTI error caused the outcome (V(unreachable), V(auth_failed), V(locked),
        V(forbidden), V(error), V(rejected)), else null.
      type: str
      returned: always
      sample: null
    note:
      description: What else happened, for example how a phone was checked after an interruption, or that no account was
        registered before the reboot so registration was not checked.
      type: str
      returned: always
      sample: null
report_files:
  description: Path of every report written, by format (in check mode, C(plan)).
  returned: always
  type: dict
  sample: {json: /var/lib/phonefleet/reports/rolling_reboot.json}
msg:
  description: One paragraph for people.
  returned: always
  type: str
  sample: "Rolling reboot 2025-01-05: 195 of 200 phones rebooted, 2 skipped_busy, 1 failed, 1 unreachable, 1 auth_failed.
    Reasons: auth_failed 1, unreachable 1, unregistered 1. Problem phones: gs0042 (unregistered), gs0077 (unreachable),
    gs0101 (auth_failed). Ledger: /var/lib/phonefleet/state/2025-01-05.json. Report: /var/lib/phonefleet/reports/rolling_reboot.json."
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_controller_only
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import (
    REBOOT_PROOF_OPTIONS, REPORT_FORMATS, rolling_argument_spec,
)

# One table of options and defaults (module_utils/rolling_options); the report registry is
# plugin_utils/change_reboot.ROLLING_REPORTS (a unit test keeps both equal, and the role's defaults with them).
ARGUMENT_SPEC = rolling_argument_spec(REBOOT_PROOF_OPTIONS)
__all__ = ['ARGUMENT_SPEC', 'REPORT_FORMATS']


def main():
    run_controller_only('fleet_reboot', ARGUMENT_SPEC)


if __name__ == '__main__':
    main()
