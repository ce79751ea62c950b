# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake phone behind a fake transport, and a way to run a module's main() for real.

The fake phone counts requests instead of seconds: after REBOOT it keeps answering for
``save`` requests, is unreachable for ``down`` requests, answers unregistered for
``unregistered`` requests, then answers registered.  No test sleeps more than a few ms.
"""

import contextlib
import json

from ansible.module_utils import basic
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import argument_spec, run_task
from ansible_collections.phonefleet.grandstream.tests.unit.plugins import fake_http

PASSCODE = 'S3cr&t#pw'


def FakeResponse(status, body):  # pylint: disable=invalid-name
    return fake_http.FakeResponse(status, raw=body if isinstance(body, bytes) else json.dumps(body).encode())


class FakePhone:
    """One phone: 3 lines, account 1 configured and registered, account 2 empty."""

    def __init__(self, passcode=PASSCODE):
        self.passcode = passcode
        self.lines = [self._idle(number) for number in (1, 2, 3)]
        self.accounts = [{'id': 1, 'sip_id': '1001', 'sip_server': 'pbx.example.net', 'name': 'office', 'reg': 1},
                         {'id': 2, 'sip_id': '', 'sip_server': '', 'name': '', 'reg': 0}]
        self.requests = []
        self.plan = []          # what the next requests see after a reboot: 'up', 'down', 'unregistered'
        self.reboot_plan = {'save': 1, 'down': 2, 'unregistered': 1}
        self.drop_on_reboot = False
        self.reject = set()     # functions answered with {"response": "error", "body": false}
        self.ignore = set()     # commands answered with success and not carried out
        self.operation_line = None  # when set, phone_operation acts on this line whatever it is asked (some firmware)
        self.call_states = ['calling']  # what make_call leaves on the line, one state per read, last repeats
        self.back_unregistered = False
        self.calls_end_after_reads = None  # line status reads until every call ends by itself
        self.shown_number = None  # the remote number the line shows after make_call (default: the number called)

    @staticmethod
    def _idle(number):
        return {'line': number, 'state': 'idle', 'acct': '', 'remotename': '', 'remotenumber': '', 'active': 0}

    def set_line(self, number, state, remotenumber='2001', active=True):
        self.lines[number - 1] = {'line': number, 'state': state, 'acct': '1', 'remotename': '',
                                  'remotenumber': remotenumber, 'active': 1 if active else 0}

    def commands(self):
        return [item for item in self.requests if item[0] in cti_commands()]

    # -- serving ------------------------------------------------------------------------------

    def next_power_state(self):
        return self.plan.pop(0) if self.plan else 'up'

    def tcp_connect(self):
        return self.next_power_state() != 'down'

    def get(self, function, params):
        power = self.next_power_state()
        if power == 'down':
            raise fake_http.refused()
        public = dict((key, value) for key, value in params.items() if key != 'passcode')
        self.requests.append((function, public))
        if params.get('passcode') != self.passcode:
            return FakeResponse(401, b'<html>401 Unauthorized</html>')
        if function in self.reject:
            return FakeResponse(200, {'response': 'error', 'body': False})
        if function in self.ignore:
            return FakeResponse(200, {'response': 'success', 'body': True})
        return getattr(self, '_' + function.replace('-', '_'))(public, power)

    def _api_get_line_status(self, params, power):
        if self.calls_end_after_reads is not None:
            self.calls_end_after_reads -= 1
            if self.calls_end_after_reads < 0:
                self.lines = [self._idle(line['line']) for line in self.lines]
        if self.lines and self.lines[0]['state'] == 'pending_call':
            state = self.call_states.pop(0) if len(self.call_states) > 1 else self.call_states[0]
            shown = dict(self.lines[0], state=state)
            return FakeResponse(200, {'response': 'success', 'body': [shown] + self.lines[1:]})
        return FakeResponse(200, {'response': 'success', 'body': self.lines})

    def _api_get_accounts(self, params, power):
        accounts = [dict(item, reg=0 if power == 'unregistered' else item['reg']) for item in self.accounts]
        return FakeResponse(200, {'response': 'success', 'body': accounts})

    def _api_get_phone_status(self, params, power):
        return FakeResponse(200, {'response': 'success', 'body': 'available', 'misc': '0'})

    def _api_sys_operation(self, params, power):
        plan = self.reboot_plan
        self.plan = ['up'] * plan['save'] + ['down'] * plan['down'] + ['unregistered'] * plan['unregistered']
        self.lines = [self._idle(line['line']) for line in self.lines]
        for account in self.accounts:
            account['reg'] = 1 if account['sip_id'] and not self.back_unregistered else 0
        if self.drop_on_reboot:
            raise fake_http.reset()
        return FakeResponse(200, {'response': 'success', 'body': 'savereboot' if params['request'] == 'REBOOT' else 'reset'})

    def _api_phone_operation(self, params, power):
        states, new_state = PHONE_OPERATIONS[params['cmd']]
        wanted = params.get('line') if self.operation_line is None else self.operation_line
        for index, line in enumerate(self.lines):
            if line['state'] in states and (wanted is None or str(line['line']) == str(wanted)):
                self.lines[index] = self._idle(line['line']) if new_state == 'idle' else dict(line, state=new_state)
                return FakeResponse(200, {'response': 'success', 'body': True})
        return FakeResponse(200, {'response': 'error', 'body': False})

    def _api_send_key(self, params, power):
        return FakeResponse(200, {'response': 'success', 'body': 'complete'})

    def _api_make_call(self, params, power):
        self.lines[0] = dict(self.lines[0], state='pending_call', remotenumber=self.shown_number or params['phonenumber'])
        return FakeResponse(200, {'response': 'success', 'body': True})


PHONE_OPERATIONS = {
    'endcall': (('connected', 'onhold', 'dialing', 'calling', 'failed'), 'idle'),
    'holdcall': (('connected',), 'onhold'),
    'unholdcall': (('onhold',), 'connected'),
    'acceptcall': (('ringing',), 'connected'),
    'rejectcall': (('ringing',), 'idle'),
    'cancel': (('dialing', 'calling'), 'idle'),
}


def cti_commands():
    return ('api-sys_operation', 'api-phone_operation', 'api-send_key', 'api-make_call')


class FakeSession(fake_http.FakeTransportBase):
    def __init__(self, phone):
        self.phone = phone

    def get(self, url, params=None, timeout=None, verify=None, allow_redirects=None):
        return self.phone.get(url.rsplit('/', 1)[-1], dict(params or {}))


def params(**options):
    base = {'host': '10.1.4.42', 'passcode': PASSCODE, 'phone_name': 'gs0042'}
    base.update(options)
    return base


def run_in_process(module, args, check_mode=False):
    """What the action plugin does with a local connection: validate the arguments, run the task."""
    validation = ArgumentSpecValidator(argument_spec(module.ARGUMENT_SPEC)).validate(params(**args))
    assert not validation.error_messages, validation.error_messages
    return run_task(module.TASK, validation.validated_parameters, check_mode)


# -- running main() ---------------------------------------------------------------------------

class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


@contextlib.contextmanager
def module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19+
    except ImportError:
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()  # pylint: disable=protected-access
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
