# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""phone_operation: acts only when a line is in a matching state; before/after; check mode."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.modules import phone_operation
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.module_runner import params, run_in_process


@pytest.fixture(autouse=True)
def fast_confirm(monkeypatch):
    monkeypatch.setattr(cti_tasks, 'CONFIRM_INTERVAL', 0.001)


def run(check_mode=False, **args):
    return run_in_process(phone_operation, args, check_mode)


def states(lines):
    return [line['state'] for line in lines]


@pytest.mark.parametrize('command, state, after', [
    ('endcall', 'connected', 'idle'),
    ('endcall', 'onhold', 'idle'),
    ('endcall', 'calling', 'idle'),
    ('holdcall', 'connected', 'onhold'),
    ('unholdcall', 'onhold', 'connected'),
    ('acceptcall', 'ringing', 'connected'),
    ('rejectcall', 'ringing', 'idle'),
    ('cancel', 'dialing', 'idle'),
    ('cancel', 'calling', 'idle'),
])
def test_acts_and_a_second_run_changes_nothing(phone, command, state, after):
    phone.set_line(1, state)
    first = run(command=command)
    assert first['changed'] is True and first['line'] == 1
    assert states(first['lines_before'])[0] == state and states(first['lines'])[0] == after
    assert first['diff'] == {'before': {'lines': first['lines_before']}, 'after': {'lines': first['lines']}}
    assert phone.commands() == [('api-phone_operation', {'cmd': command})]
    second = run(command=command)
    assert second['changed'] is False and 'diff' not in second and second['line'] is None
    assert len(phone.commands()) == 1


@pytest.mark.parametrize('command, state', [
    ('endcall', 'idle'), ('endcall', 'ringing'), ('holdcall', 'onhold'), ('unholdcall', 'connected'),
    ('acceptcall', 'connected'), ('rejectcall', 'onhold'), ('cancel', 'connected'), ('cancel', 'ringing'),
])
def test_nothing_to_act_on_sends_nothing(phone, command, state):
    if state != 'idle':
        phone.set_line(1, state)
    result = run(command=command)
    assert result['changed'] is False and phone.commands() == []
    assert result['msg'] == 'gs0042 (10.1.4.42): nothing to do for %s (no line in a matching state).' % command


def test_check_mode_predicts_without_sending(phone):
    phone.set_line(2, 'connected')
    result = run(check_mode=True, command='holdcall')
    assert result['changed'] is True and result['line'] == 2 and phone.commands() == []
    assert states(result['lines']) == ['idle', 'onhold', 'idle']
    assert states(result['diff']['before']['lines']) == ['idle', 'connected', 'idle']


def test_line_option_targets_one_line_and_is_sent(phone):
    phone.set_line(1, 'connected')
    phone.set_line(2, 'ringing', active=False)
    assert run(command='acceptcall', line=1)['changed'] is False
    result = run(command='acceptcall', line=2)
    assert result['changed'] is True and result['line'] == 2
    assert phone.commands() == [('api-phone_operation', {'cmd': 'acceptcall', 'line': '2'})]   # as sent: text


def test_without_line_the_active_line_is_predicted(phone):
    phone.set_line(1, 'onhold', active=False)
    phone.set_line(3, 'onhold', active=True)
    assert run(check_mode=True, command='unholdcall')['line'] == 3


def test_unknown_line_fails_naming_the_lines(phone):
    result = run(command='endcall', line=7)
    assert result['failed'] is True and result['msg'] == 'gs0042 (10.1.4.42): the phone has no line 7 (it has lines 1, 2, 3)'
    assert phone.commands() == []


def test_an_accepted_command_the_lines_do_not_show_is_a_failure(phone):
    phone.set_line(1, 'connected')
    phone.script('api-phone_operation', {'response': 'success', 'body': True})   # accepted, not carried out
    result = run(command='holdcall', confirm_timeout=0.02)
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'] == 'gs0042 (10.1.4.42): the phone accepted holdcall, but line 1 is connected, not onhold, after 0.02 s.'
    assert states(result['lines']) == ['connected', 'idle', 'idle']


def test_a_command_that_lands_on_another_line_is_a_failure(phone):
    # Some firmware ignores the line parameter and acts on its active line.
    phone.set_line(1, 'connected', active=False)
    phone.set_line(2, 'connected', active=True)
    phone.acts_on_active_line = True
    result = run(command='endcall', line=1, confirm_timeout=0.02)
    assert result['failed'] is True
    assert result['msg'] == ('gs0042 (10.1.4.42): the phone accepted endcall, but line 1 is connected, not idle, after 0.02 s. '
                             'Instead line 2 changed from connected to idle: the phone acted on another line than the one asked for.')


def test_refused_command_fails_as_rejected(phone):
    phone.set_line(1, 'connected')
    phone.script('api-phone_operation', {'response': 'error', 'body': False})
    result = run(command='endcall')
    assert result['failed'] is True and result['error_class'] == 'rejected'


def test_main(phone, run_main):
    phone.set_line(1, 'connected')
    result = run_main(phone_operation, params(command='endcall'))
    assert result['failed'] is False and result['changed'] is True
    result = run_main(phone_operation, params(command='bogus'))
    assert result['failed'] is True and 'command' in result['msg']
