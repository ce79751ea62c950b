# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Task functions: what each module does, given a connected CTIClient.

Signature: ``task(client, params, check_mode) -> result dict``.  They raise CTIError
(or ValueError for bad input); ``cti_module.run_task`` turns both into failed results.
"""

import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils import reboot
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    LINE_IDLE, accounts_summary, normalize_keys,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_facts import read_device


def accounts_info(client, params, check_mode):
    accounts = client.get_accounts()
    return {'changed': False, 'accounts': accounts, 'summary': accounts_summary(accounts)}


def phone_status_info(client, params, check_mode):
    status = client.get_phone_status()
    return dict(changed=False, **status)


def line_status_info(client, params, check_mode):
    lines = client.get_line_status()
    return {'changed': False, 'lines': lines, 'in_use': any(line['in_use'] for line in lines)}


def device_info(client, params, check_mode):
    return {'changed': False, 'device': read_device(client)}


# -- commands -----------------------------------------------------------------------------------

def sys_operation(client, params, check_mode):
    return reboot.reboot_phone(client, params, check_mode)


# phone_operation command -> (line states it acts on, state it leaves the line in).  endcall acts on
# any call but a ringing one (that is rejectcall), so states a firmware adds still count as calls.
PHONE_OPERATIONS = {
    'endcall': (None, LINE_IDLE),
    'holdcall': (('connected',), 'onhold'),
    'unholdcall': (('onhold',), 'connected'),
    'acceptcall': (('ringing',), 'connected'),
    'rejectcall': (('ringing',), LINE_IDLE),
    'cancel': (('dialing', 'calling'), LINE_IDLE),
}
# Line states that show an outgoing call exists (make_call's proof); failed shows it did not work.
CALL_STATES = ('dialing', 'calling', 'ringing', 'connected')
CALL_FAILED = 'failed'
CONFIRM_INTERVAL = 0.25


def _acts_on(command, line):
    states = PHONE_OPERATIONS[command][0]
    if states is None:
        return line['in_use'] and line['state'] != 'ringing'
    return line['state'] in states


def _find_line(lines, number):
    for line in lines:
        if line['line'] == number:
            return line
    raise ValueError('the phone has no line %s (it has lines %s)'
                     % (number, ', '.join(str(line['line']) for line in lines)))


def operation_target(command, lines, line_number=None):
    """The line the command would act on, or None when there is nothing to do (no call to end...)."""
    if line_number is not None:
        line = _find_line(lines, line_number)
        return line if _acts_on(command, line) else None
    candidates = [line for line in lines if _acts_on(command, line)]
    # Without a line number the phone acts on its active line.
    candidates.sort(key=lambda line: not line['active'])
    return candidates[0] if candidates else None


def _predicted(lines, target, state):
    after = []
    for line in lines:
        line = dict(line)
        if line['line'] == target['line']:
            line.update(state=state, in_use=state != LINE_IDLE)
        after.append(line)
    return after


def phone_operation(client, params, check_mode, sleep=None, clock=None):
    command = params['command']
    before = client.get_line_status()
    target = operation_target(command, before, params.get('line'))
    result = {'changed': False, 'command': command, 'line': None, 'lines': before, 'lines_before': before}
    if target is None:
        return dict(result, msg='%s: nothing to do for %s (no line in a matching state).' % (client.connection.label, command))
    result.update(changed=True, line=target['line'])
    wanted = PHONE_OPERATIONS[command][1]
    if check_mode:
        after = _predicted(before, target, wanted)
        return dict(result, lines=after, diff={'before': {'lines': before}, 'after': {'lines': after}})
    client.phone_operation(command, line=params.get('line'))
    # The answer "true" only says the phone took the command: the lines read back say whether it did it, and on
    # which line (the line parameter is not documented by every firmware; a phone may act on its active line).
    done, after = poll_lines(client, lambda lines: _find_line(lines, target['line'])['state'] == wanted,
                             params['confirm_timeout'], sleep, clock)
    result.update(lines=after, diff={'before': {'lines': before}, 'after': {'lines': after}})
    if not done:
        msg = _operation_not_seen(client.connection.label, command, target, wanted, before, after, params['confirm_timeout'])
        result.update(failed=True, msg=msg)
    return result


def _operation_not_seen(label, command, target, wanted, before, after, timeout):
    states = dict((line['line'], line['state']) for line in after)
    msg = '%s: the phone accepted %s, but line %s is %s, not %s, after %g s.' % (
        label, command, target['line'], states.get(target['line'], 'gone'), wanted, timeout)
    moved = ['line %s changed from %s to %s' % (line['line'], line['state'], states.get(line['line']))
             for line in before if line['line'] != target['line'] and states.get(line['line']) != line['state']]
    if moved:
        msg += ' Instead %s: the phone acted on another line than the one asked for.' % ', '.join(moved)
    return msg


def send_key(client, params, check_mode):
    # Every key is checked before anything is sent; "1:2:3" is accepted as three keys (the CTI form).
    keys = normalize_keys([part for key in params['keys'] for part in str(key).split(':')])
    if check_mode:
        client.get_phone_status()  # proves reachability and the passcode, sends no key
    else:
        client.send_key(keys)
    return {'changed': True, 'key_tokens': keys, 'sent': not check_mode}


def make_call(client, params, check_mode, sleep=None, clock=None):
    number = str(params['number']).strip()
    if not number:
        raise ValueError('number must not be empty')
    label = client.connection.label
    account = params.get('account')
    before = client.get_line_status()
    result = {'changed': True, 'number': number, 'account': account, 'line': None, 'state': None,
              'lines': before, 'lines_before': before}
    if all(line['in_use'] for line in before):
        return dict(result, changed=False, failed=True, msg='%s: every line is in use; no free line to call %s from.' % (label, number))
    if account is not None:
        _check_account(client, account)
    if check_mode:
        return dict(result, msg='%s: would call %s (check mode, nothing sent).' % (label, number))
    # Accounts are numbered from 1 in results (accounts_info); api-make_call counts from 0.
    client.make_call(number, account=None if account is None else account - 1)
    # A 200 from api-make_call alone proves nothing: a line must show the call.
    after = poll_lines(client, lambda lines: _new_call(before, lines, number) is not None, params['confirm_timeout'], sleep, clock)[1]
    line = _new_call(before, after, number)
    result.update(lines=after, diff={'before': {'lines': before}, 'after': {'lines': after}})
    result.update(_call_outcome(label, number, line, params['confirm_timeout']))
    return result


def _call_outcome(label, number, line, timeout):
    if line is None:
        return {'failed': True, 'msg': '%s: the phone accepted the call to %s but no line shows the call within %g s.'
                % (label, number, timeout)}
    found = {'line': line['line'], 'state': line['state']}
    if line['state'] == CALL_FAILED:
        return dict(found, failed=True, msg='%s: the phone accepted the call to %s but the call failed on line %s.'
                    % (label, number, line['line']))
    return dict(found, msg='%s: calling %s on line %s (%s).' % (label, number, line['line'], line['state']))


def _check_account(client, account_id):
    for account in client.get_accounts():
        if account['id'] == account_id:
            if not account['configured']:
                raise ValueError('account %s is not configured on the phone' % account_id)
            return account
    raise ValueError('the phone has no account %s' % account_id)


def _new_call(before, after, number):
    """A line that was free before the call and now shows a call to ``number`` (or its failure).

    An incoming call ringing on a free line is not proof of ours: when the phone shows the remote
    number, it must be the number dialled.
    """
    idle_before = set(line['line'] for line in before if not line['in_use'])
    for line in after:
        shows_call = line['state'] in CALL_STATES + (CALL_FAILED,)
        if line['line'] in idle_before and shows_call and _same_number(line['remote_number'], number):
            return line
    return None


def _same_number(shown, dialled):
    """True when the phone shows no number yet, or the number dialled (maybe as a SIP URI: sip:2001@pbx)."""
    shown = shown.strip()
    if not shown:
        return True
    user = shown.split(':', 1)[-1].split('@', 1)[0] if shown.lower().startswith('sip') else shown
    return user == dialled


def poll_lines(client, done, timeout, sleep=None, clock=None):
    """Read the lines until ``done(lines)`` is true or ``timeout`` seconds pass; returns (done, last lines read)."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout
    while True:
        lines = client.get_line_status()
        if done(lines):
            return True, lines
        if clock() >= deadline:
            return False, lines
        sleep(max(0.0, min(CONFIRM_INTERVAL, deadline - clock())))
