# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""make_call: success only when a line shows the call; preflight; check mode."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti_tasks
from ansible_collections.phonefleet.grandstream.plugins.modules import make_call
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.module_runner import params, run_in_process


@pytest.fixture(autouse=True)
def fast_confirm(monkeypatch):
    monkeypatch.setattr(cti_tasks, 'CONFIRM_INTERVAL', 0.001)


def run(check_mode=False, **args):
    args.setdefault('number', '2001')
    return run_in_process(make_call, args, check_mode)


@pytest.mark.parametrize('shown', [['calling'], ['idle', 'idle', 'dialing'], ['ringing'], ['connected']])
def test_call_is_confirmed_by_the_line_status(phone, shown):
    phone.call_progress = shown
    result = run()
    assert result['changed'] is True and not result.get('failed')
    assert (result['line'], result['state']) == (1, shown[-1])
    assert phone.commands() == [('api-make_call', {'phonenumber': '2001'})]
    assert result['diff']['before']['lines'][0]['state'] == 'idle'
    assert result['msg'] == 'gs0042 (10.1.4.42): calling 2001 on line 1 (%s).' % shown[-1]


def test_a_200_without_a_call_on_a_line_is_a_failure(phone):
    phone.call_progress = ['idle']
    result = run(confirm_timeout=0.02)
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'] == 'gs0042 (10.1.4.42): the phone accepted the call to 2001 but no line shows the call within 0.02 s.'


def test_an_incoming_call_is_not_taken_for_the_outgoing_one(phone):
    phone.call_progress = ['ringing']
    phone.call_number = '5555'
    result = run(confirm_timeout=0.02)
    assert result['failed'] is True and 'no line shows the call' in result['msg']


def test_a_sip_uri_of_the_number_called_is_the_call(phone):
    phone.call_number = 'sip:2001@pbx.example.net'
    result = run()
    assert not result.get('failed') and result['line'] == 1


def test_a_failed_call_is_a_failure(phone):
    phone.call_progress = ['failed']
    result = run()
    assert result['failed'] is True and 'the call failed on line 1' in result['msg']


def test_account_is_numbered_from_one_and_sent_from_zero(phone):
    result = run(account=1)
    assert not result.get('failed') and result['account'] == 1
    assert phone.commands() == [('api-make_call', {'phonenumber': '2001', 'account': '0'})]   # as sent: text


@pytest.mark.parametrize('account, words', [(2, 'account 2 is not configured'), (9, 'the phone has no account 9')])
def test_unusable_account_fails_before_calling(phone, account, words):
    result = run(account=account)
    assert result['failed'] is True and words in result['msg'] and phone.commands() == []


def test_no_free_line(phone):
    for number in (1, 2, 3):
        phone.set_line(number, 'connected')
    result = run()
    assert result['failed'] is True and 'every line is in use' in result['msg'] and phone.commands() == []


def test_check_mode_sends_nothing(phone):
    result = run(check_mode=True, account=1)
    assert result['changed'] is True and result['line'] is None and phone.commands() == []
    assert phone.functions() == ['api-get_line_status', 'api-get_accounts']


def test_refused_call(phone):
    phone.script('api-make_call', {'response': 'error', 'body': False})
    result = run()
    assert result['failed'] is True and result['error_class'] == 'rejected'


def test_main(phone, run_main):
    result = run_main(make_call, params(number='2001'))
    assert result['failed'] is False and result['line'] == 1
