"""The command modules (sys_operation, phone_operation, send_key, make_call) in real ansible-playbook runs
against the phone simulator: results saved by the play, and the simulator's event log as the witness."""

import json
import threading
import time
from urllib.parse import quote

import pytest

# Short simulated reboots and fast polling: the whole file stays well under 90 s.
FAST_PHONE = {'save_delay': 0.2, 'down_time': 0.5, 'register_delay': 0.3}
FAST_REBOOT = {'poll_interval': 0.1, 'connect_timeout': 0.5, 'down_timeout': 2, 'reboot_timeout': 3,
               'registration_timeout': 2, 'busy_timeout': 5}
COMMANDS = ('api-sys_operation', 'api-phone_operation', 'api-send_key', 'api-make_call')


def task(name, module, register, check_mode=None, **args):
    entry = {'name': name, 'phonefleet.grandstream.%s' % module: args, 'register': register, 'ignore_errors': True}
    if check_mode is not None:
        entry['check_mode'] = check_mode
    return entry


def run_play(tmp_path, run_ansible, fleet, tasks, *cli_args, module_defaults=None):
    """Run one play over the fleet; returns (process, {host: {register name: result}})."""
    inventory = fleet.write_ini(tmp_path / 'inventory.ini')
    out = tmp_path / 'results'
    out.mkdir()
    names = [item['register'] for item in tasks]
    save = {'name': 'Save the results', 'check_mode': False,
            'ansible.builtin.copy': {'content': '{{ {%s} | to_json }}' % ', '.join("'%s': %s" % (name, name) for name in names),
                                     'dest': '%s/{{ inventory_hostname }}.json' % out, 'mode': '0600'}}
    play = {'hosts': 'grandstream', 'gather_facts': False, 'tasks': tasks + [save],
            'module_defaults': module_defaults or {}}
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps([play], indent=1))
    proc = run_ansible('ansible-playbook', '-i', inventory, '-f', '20', playbook, *cli_args, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = dict((path.stem, json.loads(path.read_text())) for path in out.glob('*.json'))
    assert sorted(results) == sorted(phone.name for phone in fleet), proc.stdout[-3000:]
    return proc, results


def commands(fleet, phone=None):
    return fleet.events(phone=phone, event='command')


def sys_defaults(**extra):
    return {'phonefleet.grandstream.sys_operation': dict(FAST_REBOOT, **extra)}


def end_call_while_polled(fleet, name, polls=3):
    """Hang up once the module has read the busy lines a few times (busy_policy=wait is polling)."""
    since = None
    for _poll in range(polls):
        since = fleet.wait_for('request', phone=name, timeout=60, function='api-get_line_status', since=since)['t'] + 1e-6
    time.sleep(0.3)
    fleet.phone(name).end_calls()


def test_reboot_policies_and_failures(sim_fleet, run_ansible, tmp_path):
    spec = {'phones': [
        {'name': 'ok'},
        {'name': 'busy', 'call': {'line': 1, 'state': 'connected'}},
        {'name': 'waits', 'call': {'line': 2, 'state': 'connected'}, 'inventory_vars': {'test_busy_policy': 'wait'}},
        {'name': 'forced', 'call': {'line': 1, 'state': 'onhold'}, 'inventory_vars': {'test_busy_policy': 'force'}},
        {'name': 'dropper', 'fault': 'drop_on_reboot'},
        {'name': 'noback', 'fault': 'never_back'},
        {'name': 'unreg', 'fault': 'back_unregistered'},
        {'name': 'nodown', 'fault': 'no_down'},
    ]}
    fleet = sim_fleet(spec=spec, **FAST_PHONE)
    helper = threading.Thread(target=end_call_while_polled, args=(fleet, 'waits'), daemon=True)
    helper.start()
    tasks = [task('Reboot', 'sys_operation', 'rebooted', busy_policy="{{ test_busy_policy | default('skip') }}")]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, module_defaults=sys_defaults())
    helper.join(5)
    result = dict((name, value['rebooted']) for name, value in results.items())

    for name in ('ok', 'waits', 'forced', 'dropper'):
        assert result[name]['rebooted'] is True and result[name]['changed'] is True, result[name]
        assert not result[name].get('failed'), result[name]
        timings = result[name]['timings']
        assert timings['down_after'] < timings['up_after'] <= timings['registered_after'] <= result[name]['elapsed']
        assert [event['request'] for event in fleet.events(phone=name, event='reboot')] == ['REBOOT']
        assert fleet.events(phone=name, event='registered', cause='boot'), 'the phone registered again'

    assert result['busy']['changed'] is False and result['busy']['skipped_reason'] == 'busy'
    assert commands(fleet, 'busy') == [] and fleet.phone('busy').lines[0]['state'] == 'connected'

    ended = fleet.events(phone='waits', event='call_ended')[0]
    sent = fleet.events(phone='waits', event='reboot')[0]
    assert ended['cause'] == 'runtime' and ended['t'] < sent['t'], 'wait reboots only once the call ended'
    assert result['waits']['waited_for_idle'] >= 0.3

    assert result['dropper']['dropped'] is True

    noback = result['noback']
    assert noback['failed'] is True and noback['failure'] == 'never_up' and noback['changed'] is True
    # A small margin: the last poll's connect timeout and a busy machine's scheduling.
    assert FAST_REBOOT['reboot_timeout'] <= noback['elapsed'] <= FAST_REBOOT['reboot_timeout'] + 2.0
    assert noback['msg'].startswith('noback (%s' % fleet.phone('noback').host)
    assert 'did not answer again within reboot_timeout (3 s)' in noback['msg']

    unreg = result['unreg']
    assert unreg['failed'] is True and unreg['failure'] == 'unregistered' and unreg['rebooted'] is True
    assert 'account 1 did not register within registration_timeout (2 s)' in unreg['msg']

    nodown = result['nodown']
    assert nodown['failed'] is True and nodown['failure'] == 'never_down' and nodown['rebooted'] is False
    assert 'accepted REBOOT but was still answering' in nodown['msg']


def test_only_if_unregistered_fixes_once_then_changes_nothing(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'stuck'}, {'name': 'fine'}]}, **FAST_PHONE)
    stuck = fleet.phone('stuck')
    stuck.set_registered(False)

    def unstick_during_reboot():
        # A stuck registration that a reboot clears: allow it again while the phone is dark.
        fleet.wait_for('down', phone='stuck', timeout=60)
        stuck.set_registered(True)

    helper = threading.Thread(target=unstick_during_reboot, daemon=True)
    helper.start()
    tasks = [task('Fix registration', 'sys_operation', 'first', only_if_unregistered=True),
             task('Fix registration again', 'sys_operation', 'second', only_if_unregistered=True)]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, module_defaults=sys_defaults())
    helper.join(5)

    first, second = results['stuck']['first'], results['stuck']['second']
    assert first['changed'] is True and first['rebooted'] is True and first['registered_before'] == []
    assert first['timings']['registered_after'] is not None
    assert second['changed'] is False and second['skipped_reason'] == 'registered'
    assert len(fleet.events(phone='stuck', event='reboot')) == 1
    for name in ('first', 'second'):
        assert results['fine'][name]['changed'] is False and results['fine'][name]['skipped_reason'] == 'registered'
    assert commands(fleet, 'fine') == []


def test_check_mode_sends_no_command(sim_fleet, run_ansible, tmp_path):
    spec = {'phones': [{'name': 'idle'}, {'name': 'busy', 'call': {'line': 1, 'state': 'connected'}},
                       {'name': 'badpw', 'fault': 'wrong_passcode'}]}
    fleet = sim_fleet(spec=spec, **FAST_PHONE)
    tasks = [task('Reboot', 'sys_operation', 'reboot'),
             task('Reset', 'sys_operation', 'reset', operation='reset', confirm_reset=True, busy_policy='force'),
             task('Hang up', 'phone_operation', 'endcall', command='endcall'),
             task('Keys', 'send_key', 'keys', keys=['LOCK']),
             task('Call', 'make_call', 'call', number='2001')]
    # grandstream_retry_refused: each task tries the refused passcode once more (by default a refused passcode is
    # remembered and never sent again: test_a_refused_passcode_is_never_sent_again_by_a_later_task).
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, '--check', '-e', 'grandstream_retry_refused=true',
                              module_defaults=sys_defaults())

    assert commands(fleet) == [], 'check mode sent a command'
    assert fleet.events(event=('reboot', 'down', 'keys', 'call_ended')) == []
    assert [event['origin'] for event in fleet.events(event='call_started')] == ['spec']
    idle, busy, badpw = results['idle'], results['busy'], results['badpw']
    assert idle['reboot']['changed'] is True and idle['reboot']['rebooted'] is False
    assert idle['reset']['changed'] is True and idle['endcall']['changed'] is False
    assert idle['keys']['changed'] is True and idle['keys']['sent'] is False
    assert idle['call']['changed'] is True and not idle['call'].get('failed')
    assert busy['reboot']['changed'] is False and busy['reboot']['skipped_reason'] == 'busy'
    assert busy['endcall']['changed'] is True and busy['endcall']['lines'][0]['state'] == 'idle'
    # One wrong passcode per task, never retried: the fifth attempt is the one that locks the phone.
    assert [badpw[item['register']]['error_class'] for item in tasks] == ['auth_failed'] * 4 + ['locked']
    assert len(fleet.events(phone='badpw', event='auth_failed')) == len(tasks)


def test_a_refused_passcode_is_never_sent_again_by_a_later_task(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'badpw', 'fault': 'wrong_passcode'}, {'name': 'fine'}]}, **FAST_PHONE)
    tasks = [task('Keys %d' % number, 'send_key', 'keys%d' % number, keys=['LOCK']) for number in range(5)]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, '--check', module_defaults=sys_defaults())
    badpw = results['badpw']
    assert [badpw[item['register']]['error_class'] for item in tasks] == ['auth_failed'] * 5
    assert len(fleet.events(phone='badpw', event='auth_failed')) == 1, 'the passcode went out once, in the first task'
    assert all('not tried: this password was refused at' in badpw[item['register']]['msg'] for item in tasks[1:])
    assert all(results['fine'][item['register']]['changed'] for item in tasks)
    # A later run (another ansible-playbook) remembers it too, and the phone never locked.
    (tmp_path / 'again').mkdir()
    _proc, again = run_play(tmp_path / 'again', run_ansible, fleet, tasks[:1], '--check', module_defaults=sys_defaults())
    assert 'not tried' in again['badpw']['keys0']['msg']
    assert len(fleet.events(phone='badpw', event='auth_failed')) == 1
    assert fleet.events(phone='badpw', event='locked') == []


def test_reset_never_sends_the_old_passcode(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'wipe'}, {'name': 'careful'}]}, **FAST_PHONE)
    tasks = [task('Factory reset', 'sys_operation', 'reset', operation='reset',
                  confirm_reset="{{ inventory_hostname == 'wipe' }}")]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, module_defaults=sys_defaults())

    wipe = results['wipe']['reset']
    assert wipe['changed'] is True and wipe['rebooted'] is True and wipe['passcode_reset'] is True
    assert 'factory' in wipe['msg'] and wipe['timings']['registered_after'] is None
    sent = fleet.events(phone='wipe', event='reboot')[0]
    assert sent['request'] == 'RESET' and fleet.events(phone='wipe', event='reset_done')
    after = [event for event in fleet.events(phone='wipe', event=('request', 'auth_failed'), since=sent['t'])
             if event.get('function') != 'api-sys_operation']
    assert after == [], 'after RESET only TCP probes: no HTTP request, no old passcode'

    careful = results['careful']['reset']
    assert careful['failed'] is True and 'confirm_reset: true' in careful['msg']
    assert fleet.events(phone='careful', event='request') == [], 'refused before anything was sent'


def test_call_handling_and_idempotency(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'desk', 'call_answer_after': 0.3, 'call': {'line': 1, 'state': 'connected'}}]},
                      **FAST_PHONE)
    tasks = [task('Hold', 'phone_operation', 'hold', command='holdcall'),
             task('Hold again', 'phone_operation', 'hold2', command='holdcall'),
             task('Resume', 'phone_operation', 'resume', command='unholdcall'),
             task('Hang up', 'phone_operation', 'end', command='endcall'),
             task('Hang up again', 'phone_operation', 'end2', command='endcall'),
             task('Call', 'make_call', 'call', number='2001', account=1),
             task('Hang up the new call', 'phone_operation', 'end3', command='endcall', line='{{ call.line }}'),
             task('Lock the keypad', 'send_key', 'lock', keys=['LOCK']),
             task('Unknown key', 'send_key', 'badkey', keys=['1', 'FLASH']),
             task('Nothing rings', 'phone_operation', 'accept', command='acceptcall')]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, '--diff')
    result = results['desk']

    assert result['hold']['changed'] is True and result['hold']['lines'][0]['state'] == 'onhold'
    assert result['hold']['diff']['before']['lines'][0]['state'] == 'connected'
    assert result['hold2']['changed'] is False
    assert result['resume']['changed'] is True and result['resume']['lines'][0]['state'] == 'connected'
    assert result['end']['changed'] is True and result['end']['lines'][0]['state'] == 'idle'
    assert result['end2']['changed'] is False
    call = result['call']
    assert call['changed'] is True and not call.get('failed') and call['line'] == 1
    assert call['state'] in ('dialing', 'calling', 'ringing', 'connected')
    assert result['end3']['changed'] is True
    assert result['lock']['changed'] is True and result['lock']['key_tokens'] == ['LOCK']
    assert result['badkey']['failed'] is True and "'FLASH'" in result['badkey']['msg']
    assert result['accept']['changed'] is False

    sent = [(event['function'], event['params']) for event in commands(fleet, 'desk')]
    assert sent == [
        ('api-phone_operation', {'cmd': 'holdcall'}),
        ('api-phone_operation', {'cmd': 'unholdcall'}),
        ('api-phone_operation', {'cmd': 'endcall'}),
        ('api-make_call', {'phonenumber': '2001', 'account': '0'}),
        ('api-phone_operation', {'cmd': 'endcall', 'line': '1'}),
        ('api-send_key', {'keys': 'LOCK'}),
    ], 'idempotent no-ops and the unknown key sent nothing'


def test_make_call_without_a_registered_account_fails(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [{'name': 'mute', 'fault': 'unregistered'}]}, **FAST_PHONE)
    tasks = [task('Call', 'make_call', 'call', number='2001', confirm_timeout=0.5)]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks)
    call = results['mute']['call']
    assert call['failed'] is True and call['error_class'] == 'rejected' and call['msg'].startswith('mute (')
    assert fleet.events(phone='mute', event='call_started') == []


@pytest.mark.parametrize('in_process', [True, False])
def test_passcode_never_shows_at_vvvv(sim_fleet, run_ansible, tmp_path, in_process):
    phones = [{'name': 'p-%s' % fault, 'fault': fault, 'passcode': 'S3cr&t:%s' % fault}
              for fault in ('wrong_passcode', 'reset', 'http500', 'never_back')]
    fleet = sim_fleet(spec={'phones': phones}, **FAST_PHONE)
    tasks = [task('Reboot', 'sys_operation', 'reboot', reboot_timeout=1, busy_policy='force'),
             task('Keys', 'send_key', 'keys', keys=['1', 'POUND']),
             task('Call', 'make_call', 'call', number='2001')]
    proc, results = run_play(tmp_path, run_ansible, fleet, tasks, '-vvvv', '-e', 'grandstream_in_process=%s' % in_process,
                             module_defaults=sys_defaults())
    assert results['p-never_back']['reboot']['failure'] == 'never_up'
    assert results['p-wrong_passcode']['keys']['error_class'] == 'auth_failed'
    assert results['p-reset']['keys']['error_class'] == 'unreachable'
    text = proc.stdout + proc.stderr + json.dumps(results)
    assert 'p-reset (%s' % fleet.phone('p-reset').host in proc.stdout, 'the failures are in the verbose output'
    assert 'passcode' in proc.stdout, 'the module arguments are in the verbose output, masked'
    for module in ('sys_operation', 'send_key', 'make_call'):
        assert ('AnsiballZ_%s.py' % module in proc.stdout) is not in_process, 'in-process only with a local connection'
    for phone in fleet:
        for secret in (phone.spec.passcode, 'wrong-%s' % phone.spec.passcode):
            for form in (secret, quote(secret, safe=''), quote(secret)):
                assert form not in text, 'passcode of %s leaked' % phone.name
    assert 'S3cr' not in text


@pytest.mark.parametrize('in_process', [True, False], ids=['in-process', 'module'])
def test_a_reboot_faster_than_the_poll_interval_is_seen(sim_fleet, run_ansible, tmp_path, in_process):
    """Dark for half a second, polled every 3 s: the port check between polls still sees the phone go down."""
    fleet = sim_fleet(spec={'phones': [{'name': 'quick'}]}, **FAST_PHONE)
    tasks = [task('Reboot', 'sys_operation', 'result')]
    _proc, results = run_play(tmp_path, run_ansible, fleet, tasks, '-e', 'grandstream_in_process=%s' % in_process,
                              module_defaults=sys_defaults(poll_interval=3, down_timeout=5, reboot_timeout=8))
    result = results['quick']['result']
    assert result.get('failed') is not True, result
    assert result['rebooted'] is True and result['timings']['down_after'] < 1.5, result
    assert len(fleet.events(phone='quick', event='reboot')) == 1
