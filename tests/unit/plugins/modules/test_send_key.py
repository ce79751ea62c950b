# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""send_key: every key validated before anything is sent, one request, never idempotent."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.modules import send_key
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.module_runner import params, run_in_process


def run(check_mode=False, **args):
    return run_in_process(send_key, args, check_mode)


@pytest.mark.parametrize('keys, sent', [
    (['*', '9', '8', '#', 'send'], 'STAR:9:8:POUND:SEND'),
    (['1:2:pound'], '1:2:POUND'),
    (['mpk12', 'LOCK'], 'MPK12:LOCK'),
])
def test_keys_go_in_one_request(phone, keys, sent):
    result = run(keys=keys)
    assert result['changed'] is True and result['sent'] is True
    assert phone.commands() == [('api-send_key', {'keys': sent})]
    assert result['key_tokens'] == sent.split(':')


@pytest.mark.parametrize('keys, named', [(['1', 'FLASH'], "'FLASH'"), (['1::2'], "''"), (['MPK0'], "'MPK0'")])
def test_unknown_keys_fail_before_anything_is_sent(phone, keys, named):
    result = run(keys=keys)
    assert result['failed'] is True and named in result['msg'] and result['msg'].startswith('gs0042 (10.1.4.42): unknown key')
    assert phone.requests == []


def test_check_mode_reads_but_sends_no_key(phone):
    result = run(check_mode=True, keys=['LOCK'])
    assert result['changed'] is True and result['sent'] is False and phone.commands() == []
    assert phone.functions() == ['api-get_phone_status']


def test_a_second_run_sends_again(phone):
    run(keys=['VUP'])
    assert run(keys=['VUP'])['changed'] is True and len(phone.commands()) == 2


def test_main(phone, run_main):
    result = run_main(send_key, params(keys=['OK']))
    assert result['failed'] is False and result['key_tokens'] == ['OK']
