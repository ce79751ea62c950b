# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sys_operation against the fixture phone: busy policy, remediation, check mode, proof of reboot, reset."""

import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.modules import sys_operation
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.module_runner import params, run_in_process

FAST = {'poll_interval': 0.001, 'connect_timeout': 0.5, 'down_timeout': 0.5, 'reboot_timeout': 1, 'registration_timeout': 0.5,
        'busy_timeout': 0.5}
REBOOT = ('api-sys_operation', {'request': 'REBOOT'})


def run(check_mode=False, **args):
    return run_in_process(sys_operation, dict(FAST, **args), check_mode)


def hang_up_after_line_reads(reads):
    """The call ends by itself (the other party hangs up) once the lines were read ``reads`` times."""
    def hook(phone, request):
        if request['function'] == 'api-get_line_status' and phone.functions().count('api-get_line_status') > reads:
            for number in range(1, len(phone.lines) + 1):
                phone.set_line(number, 'idle')
    return hook


def test_reboot_is_proven_by_down_up_registered(phone):
    result = run()
    assert result['changed'] is True and result['rebooted'] is True and not result.get('failed')
    assert phone.commands() == [REBOOT]
    timings = result['timings']
    assert 0 <= timings['down_after'] <= timings['up_after'] <= timings['registered_after'] <= result['elapsed']
    assert result['registered_before'] == [1] and result['skipped_reason'] is None and result['dropped'] is False
    assert result['msg'].startswith('gs0042 (10.1.4.42): rebooted;')


def test_busy_phone_is_skipped_by_default(phone):
    phone.set_line(1, 'connected')
    result = run()
    assert (result['changed'], result['rebooted'], result['skipped_reason']) == (False, False, 'busy')
    assert phone.commands() == []
    assert 'a line is in use (busy_policy=skip)' in result['msg']


def test_busy_wait_reboots_once_the_call_ends(phone):
    phone.set_line(1, 'connected')
    phone.on_request = hang_up_after_line_reads(2)
    result = run(busy_policy='wait')
    assert result['rebooted'] is True and phone.commands() == [REBOOT]
    assert result['lines'][0]['state'] == 'idle', 'the lines reported are those read right before the command'


def test_busy_wait_gives_up_like_skip(phone):
    phone.set_line(2, 'onhold')
    result = run(busy_policy='wait', busy_timeout=0.02)
    assert (result['changed'], result['skipped_reason']) == (False, 'busy') and phone.commands() == []
    assert result['msg'] == 'gs0042 (10.1.4.42): not rebooted: a line was still in use after busy_timeout (0.02 s).'
    assert result['waited_for_idle'] >= 0.02


def test_busy_force_reboots_anyway(phone):
    phone.set_line(1, 'connected')
    assert run(busy_policy='force')['rebooted'] is True
    assert phone.commands() == [REBOOT]


def test_only_if_unregistered_leaves_a_registered_phone_alone(phone):
    result = run(only_if_unregistered=True)
    assert (result['changed'], result['skipped_reason']) == (False, 'registered') and phone.commands() == []


def test_only_if_unregistered_reboots_then_a_second_run_changes_nothing(phone):
    phone.set_registered(False)
    first = run(only_if_unregistered=True)
    assert first['changed'] is True and first['rebooted'] is True and first['registered_before'] == []
    second = run(only_if_unregistered=True)
    assert second['changed'] is False and second['skipped_reason'] == 'registered'
    assert phone.commands() == [REBOOT]


def test_only_if_unregistered_fails_when_the_reboot_did_not_fix_registration(phone):
    phone.set_registered(False)
    phone.set_fault('back_unregistered')
    result = run(only_if_unregistered=True, registration_timeout=0.02)
    assert result['failed'] is True and result['failure'] == 'unregistered' and 'account 1 did not register' in result['msg']


def test_only_if_unregistered_without_accounts(phone):
    phone.accounts[0].update(sip_id='', reg=0)
    assert run(only_if_unregistered=True)['skipped_reason'] == 'no_accounts'


@pytest.mark.parametrize('busy, policy, changed', [
    (False, 'skip', True), (True, 'skip', False), (True, 'wait', True), (True, 'force', True),
])
def test_check_mode_sends_no_command_and_predicts(phone, busy, policy, changed):
    if busy:
        phone.set_line(1, 'ringing')
    result = run(check_mode=True, busy_policy=policy)
    assert result['changed'] is changed and result['rebooted'] is False and not result.get('failed')
    assert phone.commands() == []
    assert phone.functions() == ['api-get_line_status', 'api-get_accounts']


def test_check_mode_catches_a_wrong_passcode(phone):
    phone.passcode = 'another'
    result = run(check_mode=True)
    assert result['failed'] is True and result['error_class'] == 'auth_failed'
    assert len(phone.requests) == 1, 'an authentication failure is never retried'
    assert PASSCODE not in json.dumps(result)


def test_dropped_connection_on_the_command_counts_as_sent(phone):
    phone.set_fault('drop_on_reboot')
    result = run()
    assert result['dropped'] is True and result['rebooted'] is True and not result.get('failed')


def test_a_phone_that_never_goes_down_did_not_reboot(phone):
    phone.reboot_plan = {'save': 0, 'down': 0, 'unregistered': 0}
    result = run(down_timeout=0.05)
    assert result['failed'] is True and result['failure'] == 'never_down'
    assert result['changed'] is False and result['rebooted'] is False
    assert 'accepted REBOOT but was still answering' in result['msg']


def test_a_phone_that_never_comes_back_fails_at_reboot_timeout(phone):
    phone.reboot_plan = {'save': 0, 'down': 10 ** 6, 'unregistered': 0}
    result = run(reboot_timeout=0.1)
    assert result['failed'] is True and result['failure'] == 'never_up' and result['changed'] is True
    assert 0.1 <= result['elapsed'] < 0.1 + 1.0  # the margin is for a busy machine, not for the module
    assert 'did not answer again within reboot_timeout (0.1 s)' in result['msg']


def test_wait_false_skips_the_registration_check(phone):
    phone.set_fault('back_unregistered')
    result = run(wait=False)
    assert result['rebooted'] is True and not result.get('failed') and result['timings']['registered_after'] is None


def test_reset_requires_confirmation_and_sends_nothing_without(phone):
    result = run(operation='reset')
    assert result['failed'] is True and 'confirm_reset: true' in result['msg'] and phone.requests == []
    result = run(operation='reset', check_mode=True)
    assert result['failed'] is True and phone.requests == []


def test_reset_never_sends_the_old_passcode_afterwards(phone):
    result = run(operation='reset', confirm_reset=True)
    assert result['rebooted'] is True and result['passcode_reset'] is True and not result.get('failed')
    assert 'factory' in result['msg'] and result['timings']['registered_after'] is None
    functions = phone.functions()
    assert functions[-1] == 'api-sys_operation', 'after RESET only TCP probes, no HTTP request'
    assert phone.commands() == [('api-sys_operation', {'request': 'RESET'})]


def test_refused_command_is_a_rejected_failure(phone):
    phone.script('api-sys_operation', {'response': 'error', 'body': False})
    result = run()
    assert result['failed'] is True and result['error_class'] == 'rejected'


def test_main_runs_the_module_path(phone, run_main):
    result = run_main(sys_operation, dict(params(**FAST), _ansible_check_mode=True))
    assert result['failed'] is False and result['changed'] is True and phone.commands() == []
    result = run_main(sys_operation, params(**FAST))
    assert result['rebooted'] is True and phone.commands() == [REBOOT]


def test_main_failure_hides_the_passcode(phone, run_main):
    phone.reboot_plan = {'save': 0, 'down': 10 ** 6, 'unregistered': 0}
    args = params(**FAST)
    args['reboot_timeout'] = 0.05
    result = run_main(sys_operation, args)
    assert result['failed'] is True and result['failure'] == 'never_up'
    text = json.dumps(result)
    assert PASSCODE not in text and 'S3cr%26t%23pw' not in text


def test_nothing_to_repair_does_not_wait_for_the_call(phone):
    phone.set_line(1, 'connected')
    result = run(only_if_unregistered=True, busy_policy='wait', busy_timeout=5)
    assert result['skipped_reason'] == 'registered' and result['waited_for_idle'] == 0
    assert phone.functions() == ['api-get_line_status', 'api-get_accounts']


def test_a_reset_that_never_went_down_keeps_the_passcode(phone):
    phone.reboot_plan = {'save': 0, 'down': 0, 'unregistered': 0}
    result = run(operation='reset', confirm_reset=True, down_timeout=0.05)
    assert result['failure'] == 'never_down' and result['passcode_reset'] is False
