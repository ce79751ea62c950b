#!/usr/bin/python
# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: sys_operation
short_description: Reboot or factory-reset a Grandstream phone, and prove it happened
version_added: 0.1.0
description:
  - Sends the CTI function C(api-sys_operation) (V(REBOOT) or V(RESET)) and then verifies the result.
  - The phone answers the command before it restarts, so an answer proves nothing. The module reports success only
    after it has seen the phone go away (within O(down_timeout)) and come back (within O(reboot_timeout)), then,
    with O(wait=true), the accounts that were registered before register again (within O(registration_timeout)).
  - A phone that accepted the command but never went down is a failure, not a success.
  - A phone that closes the connection instead of answering the command counts as having received it; the
    verification then tells whether it rebooted.
  - Before sending, the module reads the lines and the accounts. This proves the phone is reachable and the passcode
    works, and it drives O(busy_policy) and O(only_if_unregistered).
  - In check mode only that read-only preflight runs; no command is sent. Check mode thus catches a wrong passcode
    or an unreachable phone before the maintenance window does.
  - To reboot many phones at once without spending a fork per waiting phone, use the C(rolling_reboot) role, which
    reuses this module's verification.
author:
  - phonefleet.grandstream contributors (@phonefleet)
extends_documentation_fragment:
  - phonefleet.grandstream.attributes
  - phonefleet.grandstream.attributes.cti_group
  - phonefleet.grandstream.connection
options:
  operation:
    description:
      - V(reboot) restarts the phone.
      - V(reset) is a factory reset. It erases the accounts and settings and restores the factory admin passcode
        (the one on the sticker of a GRP26xx). It requires O(confirm_reset=true). After the command the module never
        sends the old passcode again; it sees the phone come back when its web port accepts a TCP connection, and it
        does not check registration (there are no accounts left).
    type: str
    choices: [reboot, reset]
    default: reboot
  confirm_reset:
    description:
      - Must be V(true) for O(operation=reset), so that a factory reset is never sent by mistake.
    type: bool
    default: false
  wait:
    description:
      - After the phone is back, wait until every account that was registered before the reboot is registered again.
      - With V(false) the module still proves that the phone went down and came back, but does not check registration.
    type: bool
    default: true
  busy_policy:
    description:
      - What to do when a line of the phone is in use (a call ringing, connected, on hold...).
      - V(skip) does not touch the phone and returns RV(skipped_reason=busy) with C(changed=false).
      - V(wait) reads the lines every O(poll_interval) seconds until they are idle, up to O(busy_timeout), then
        reboots; if the call outlasts O(busy_timeout), it skips like V(skip). In check mode it does not wait and reports
        that it would reboot.
      - V(force) reboots anyway and drops the call.
    type: str
    choices: [skip, wait, force]
    default: skip
  busy_timeout:
    description:
      - Seconds to wait for the lines to become idle with O(busy_policy=wait).
    type: float
    default: 300
  only_if_unregistered:
    description:
      - Reboot only a phone that has a configured account that is not registered, the usual remedy for a stuck
        registration. A phone whose configured accounts are all registered (or that has none) is left alone
        with C(changed=false), so running the task again changes nothing once the phone is fixed.
      - With O(wait=true) the module then waits until every configured account is registered.
      - Only for O(operation=reboot).
    type: bool
    default: false
  down_timeout:
    description:
      - Seconds, from sending the command, to wait for the phone to stop answering. A phone still answering after
        that did not reboot and the task fails.
    type: float
    default: 120
  reboot_timeout:
    description:
      - Seconds, from sending the command, to wait for the phone to go down and answer again. The task fails after
        that (plus at most one probe of O(connect_timeout)).
    type: float
    default: 600
  registration_timeout:
    description:
      - Seconds, from the moment the phone answers again (plus O(post_reboot_delay)), to wait for its accounts to
        register. The task fails after that.
    type: float
    default: 300
  post_reboot_delay:
    description:
      - Seconds to wait after the phone answers again before checking its registration and returning, for phones
        that need time to settle.
    type: float
    default: 0
  connect_timeout:
    description:
      - Seconds one look at a restarting phone may take (a port check waits at most 1 s). A registration poll that
        gets no complete answer in that time counts as the phone not being ready yet.
    type: float
    default: 5
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
attributes:
  check_mode:
    support: full
    details: Check mode runs the read-only preflight and sends no command.
  diff_mode:
    support: none
notes:
  - The option names follow M(ansible.builtin.reboot). The defaults suit real phones, which take minutes to restart;
    the whole task can last O(busy_timeout) plus O(reboot_timeout) plus O(post_reboot_delay) plus O(registration_timeout).
  - The command itself is never retried. Authentication failures are never retried either, also while waiting for the
    phone to come back.
seealso:
  - module: ansible.builtin.reboot
  - module: phonefleet.grandstream.accounts_info
  - module: phonefleet.grandstream.line_status_info
"""

EXAMPLES = r"""
- name: Reboot phones that are not in a call, and wait until their accounts are registered again
  phonefleet.grandstream.sys_operation:
    operation: reboot
  register: reboot_result

- name: Fix stuck registrations; a second run changes nothing
  phonefleet.grandstream.sys_operation:
    only_if_unregistered: true
    busy_policy: wait
    busy_timeout: 900

- name: Preflight before the maintenance window (reachable, passcode accepted, lines, registration)
  phonefleet.grandstream.sys_operation:
  check_mode: true

- name: Factory-reset one phone
  phonefleet.grandstream.sys_operation:
    operation: reset
    confirm_reset: true
    busy_policy: force
"""

RETURN = r"""
operation:
  description: The operation asked for.
  returned: success
  type: str
  sample: reboot
rebooted:
  description: True when the phone was seen going down and coming back.
  returned: always
  type: bool
  sample: true
skipped_reason:
  description:
    - Why the phone was not touched, or null.
    - V(busy) a line was in use (O(busy_policy)); V(registered) every configured account was registered and
      V(no_accounts) no account is configured (O(only_if_unregistered)).
  returned: success
  type: str
  sample: busy
dropped:
  description: True when the phone closed the connection instead of answering the command.
  returned: success
  type: bool
  sample: false
elapsed:
  description: Seconds from sending the command until the phone was verified (or the wait failed); 0 when nothing was sent.
  returned: success
  type: float
  sample: 95.4
timings:
  description: Seconds from sending the command to each step; null for a step not reached.
  returned: success
  type: dict
  sample: {down_after: 12.1, up_after: 80.3, registered_after: 95.4}
  contains:
    down_after:
      description: When the phone stopped answering.
      type: float
      returned: always
      sample: 12.1
    up_after:
      description: When the phone answered again.
      type: float
      returned: always
      sample: 80.3
    registered_after:
      description: When the expected accounts were registered (null after a reset or with O(wait=false)).
      type: float
      returned: always
      sample: 95.4
waited_for_idle:
  description: Seconds spent waiting for the lines to become idle (O(busy_policy=wait)).
  returned: success
  type: float
  sample: 0.0
lines:
  description: The lines as read before the command, in the format of M(phonefleet.grandstream.line_status_info).
  returned: success
  type: list
  elements: dict
  sample:
    - {line: 1, state: idle, in_use: false, active: false, account: null, remote_name: '', remote_number: '', conference: false}
registered_before:
  description: Ids of the configured accounts that were registered before the command.
  returned: success
  type: list
  elements: int
  sample: [1]
passcode_reset:
  description: True after a factory reset, to say that the stored passcode no longer works.
  returned: success
  type: bool
  sample: false
msg:
  description: One sentence saying what happened, naming the phone.
  returned: always
  type: str
  sample: 'gs0042 (10.1.4.42): rebooted; it was back after 80.3 s and its accounts registered after 95.4 s.'
failure:
  description:
    - When the verification failed, why. V(never_down) the phone accepted the command but did not go down;
      V(never_up) it did not come back within O(reboot_timeout); V(unregistered) it came back but its accounts did not
      register within O(registration_timeout); or an error class such as V(auth_failed) when it came back but refused
      the passcode.
  returned: failure
  type: str
  sample: never_up
error_class:
  description: When the preflight or the command failed, the error class, one of V(unreachable), V(auth_failed),
    V(locked), V(forbidden), V(error) or V(rejected).
  returned: failure
  type: str
  sample: auth_failed
http_status:
  description: On failure, the HTTP status the phone answered, when it answered.
  returned: failure
  type: int
  sample: 401
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_module
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import DEFAULTS

ARGUMENT_SPEC = dict(
    operation=dict(type='str', default=DEFAULTS['operation'], choices=['reboot', 'reset']),
    confirm_reset=dict(type='bool', default=DEFAULTS['confirm_reset']),
    wait=dict(type='bool', default=DEFAULTS['wait']),
    busy_policy=dict(type='str', default=DEFAULTS['busy_policy'], choices=['skip', 'wait', 'force']),
    busy_timeout=dict(type='float', default=DEFAULTS['busy_timeout']),
    only_if_unregistered=dict(type='bool', default=DEFAULTS['only_if_unregistered']),
    down_timeout=dict(type='float', default=DEFAULTS['down_timeout']),
    reboot_timeout=dict(type='float', default=DEFAULTS['reboot_timeout']),
    registration_timeout=dict(type='float', default=DEFAULTS['registration_timeout']),
    post_reboot_delay=dict(type='float', default=DEFAULTS['post_reboot_delay']),
    connect_timeout=dict(type='float', default=DEFAULTS['connect_timeout']),
    poll_interval=dict(type='float', default=DEFAULTS['poll_interval']),
)
TASK = cti_tasks.sys_operation


def main():
    run_module(ARGUMENT_SPEC, TASK)


if __name__ == '__main__':
    main()
