# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile phones against the CTI client: whatever a phone sends, what comes out is bounded, printable and free of
secrets, and every failure is a CTIError with a class and a sentence naming the phone (never another exception).

Each attack of the adversarial review (issue "Hostile phones, hostile files") is here with variants."""

import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import phone_facts
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_http import MAX_BODY
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import run_task
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_tasks import (
    accounts_info, line_status_info, phone_status_info,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import TEXT_LIMIT
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone

PASSCODE = 'S3cr&t#pw-long'
SURROGATE = '"\\ud800"'   # a JSON escape that decodes to a lone surrogate: valid JSON, not encodable as UTF-8
ESC = '\x1b[2J\x1b]0;owned\x07\n'


def scripted_phone(function=None, *answers):
    """A GRP2614 fixture phone (passcode PASSCODE) whose next answers to ``function`` are ``answers``: raw bytes (a 200
    answer), ``(status, content_type, body)`` or an exception."""
    phone = FixturePhone(passcode=PASSCODE)
    if function is not None:
        phone.script(function, *answers)
    return phone


def client_for(function, *answers, **connection):
    connection.setdefault('passcode', PASSCODE)
    phone = scripted_phone(function, *answers)
    return CTIClient(CTIConnection('10.1.4.42', name='gs0042', **connection), transport=phone), phone


def success(body_json, extra=''):
    return ('{"response":"success","body":%s%s}' % (body_json, extra)).encode()


def assert_clean(value):
    """Every string in value is printable, bounded, encodable and free of the passcode."""
    text = json.dumps(value, ensure_ascii=False)
    text.encode('utf-8')  # raises on a lone surrogate
    for string in _strings(value):
        assert string.isprintable(), repr(string)
        assert len(string) <= TEXT_LIMIT + 3, len(string)
    assert PASSCODE not in text and 'S3cr' not in text


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# -- 1. a lone surrogate anywhere -----------------------------------------------------------------

@pytest.mark.parametrize('answer, read', [
    (success(SURROGATE, ',"misc":' + SURROGATE), 'get_phone_status'),
    (success('[{"id":1,"sip_id":%s,"sip_server":%s,"name":"x\\udfff","reg":1}]' % (SURROGATE, SURROGATE)), 'get_accounts'),
    (success('[{"line":1,"state":%s,"remotename":%s,"remotenumber":"\\ud83d","active":1}]' % (SURROGATE, SURROGATE)),
     'get_line_status'),
    (success('[{"id":1,"sip_id":"1001","reg":1,%s:"a"}]' % SURROGATE), 'get_accounts'),
])
def test_a_lone_surrogate_becomes_a_printable_character(answer, read):
    client = client_for('api-' + read, answer)[0]
    assert_clean(getattr(client, read)())


@pytest.mark.parametrize('lock_time', [SURROGATE, '"%s"' % PASSCODE, '"5\\u001b[31m"', '1e400', '"' + 'x' * 5000 + '"',
                                       '[1,2]', '{"a":1}', '-3', '99999999999999999999999'])
def test_a_lock_answer_reports_minutes_only_when_they_are_a_number(lock_time):
    client = client_for('api-get_accounts', ('{"response":"error","body":"locked","lockTime":%s}' % lock_time).encode())[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    error = caught.value
    assert error.error_class == 'locked'
    result = error.to_result()
    assert_clean(result)
    assert result.get('lock_minutes') is None


def test_a_lock_answer_with_minutes_as_text_still_reports_them():
    client = client_for('api-get_accounts', b'{"response":"error","body":"locked","lockTime":"7"}')[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.to_result()['lock_minutes'] == 7 and '7 more minutes' in str(caught.value)


def test_a_surrogate_or_escape_in_the_model_file_is_cleaned():
    model = json.dumps({'model': 'WP8\ud800' + ESC}).encode()
    client = client_for('model.define.js', (200, 'application/javascript', model))[0]
    assert_clean(client.get_model())


# -- 2. the passcode never reaches a result, redacted before anything is cut -----------------------

@pytest.mark.parametrize('prefix', [0, 60, 74, 78, 79, 80, 81, 200])
def test_an_error_excerpt_is_redacted_before_it_is_cut(prefix):
    body = ('x' * prefix + PASSCODE + ' trailing').encode()
    client = client_for('api-get_accounts', (500, 'text/html', body))[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    text = str(caught.value)
    for length in range(3, len(PASSCODE) + 1):
        assert PASSCODE[:length] not in text, (prefix, length, text)


@pytest.mark.parametrize('form', [PASSCODE, 'S3cr%26t%23pw-long', 'passcode=anything'])
def test_a_phone_that_echoes_the_passcode_in_any_field_leaks_nothing(form):
    client = client_for('api-get_accounts', success(json.dumps([{'id': 1, 'sip_id': '1001', 'reg': 1, 'name': 'is ' + form,
                                                                 'auto_cfg': form}])))[0]
    accounts = client.get_accounts()
    assert_clean(accounts)
    assert 'anything' not in json.dumps(accounts)


def test_a_short_passcode_is_hidden_where_it_stands_alone_and_left_inside_numbers():
    client = client_for('api-get_accounts', success('[{"id":1,"sip_id":"1123","name":"pw 123 here","reg":1}]'), passcode='123')[0]
    account = client.get_accounts()[0]
    assert account['sip_id'] == '1123'
    assert account['name'] == 'pw ******** here'


# -- 3. nothing but CTIError, whatever the JSON ------------------------------------------------------

DEEP = b'[' * 100000 + b']' * 100000
DEEP_OBJECT = b'{"a":' * 100000 + b'1' + b'}' * 100000


@pytest.mark.parametrize('body', [
    DEEP, DEEP_OBJECT, success(DEEP.decode()), success('[{"id":1e400,"sip_id":"1","reg":1}]'),
    success('[{"id":NaN,"sip_id":"1","reg":Infinity}]'), success('[{"id":%s,"sip_id":"1","reg":1}]' % ('9' * 5000)),
    success('[{"id":-1e400,"sip_id":"1","reg":1e400}]'), b'\xff\xfe{"response"', b'{"response":"success","body":[',
])
def test_hostile_json_gives_an_error_class_or_a_clean_answer(body):
    client = client_for('api-get_accounts', body)[0]
    try:
        accounts = client.get_accounts()
    except CTIError as error:
        assert error.error_class == 'error'
        assert str(error).startswith('gs0042 (10.1.4.42): ')
        assert_clean(error.to_result())
    else:
        assert_clean(accounts)


@pytest.mark.parametrize('body', [DEEP, success('[{"id":1e400,"sip_id":"1","reg":1}]'), b'\x00' * 100])
def test_a_module_never_fails_without_the_phone_and_an_error_class(body):
    params = {'host': '10.1.4.42', 'passcode': PASSCODE, 'phone_name': 'gs0042'}
    result = run_task(accounts_info, params, False, transport=scripted_phone('api-get_accounts', body))
    assert (result.get('failed') and result['error_class'] == 'error' and result['msg'].startswith('gs0042')) \
        or not result.get('failed'), result
    assert_clean(result)


def test_an_unexpected_exception_in_a_task_is_one_sentence_with_the_phone():
    def task(client, params, check_mode):
        raise OverflowError('cannot convert float infinity to integer')

    result = run_task(task, {'host': '10.1.4.42', 'passcode': PASSCODE, 'phone_name': 'gs0042'}, False,
                      transport=scripted_phone())
    assert result['failed'] is True and result['error_class'] == 'error'
    assert result['msg'].startswith('gs0042 (10.1.4.42): unexpected OverflowError')


def test_deep_nesting_in_the_model_file_leaves_the_device_fields_unknown_not_the_phone_broken():
    client = client_for('model.define.js', (200, 'application/javascript', DEEP_OBJECT))[0]
    device = phone_facts.read_device(client)
    assert device['model'] is None and 'nested too deeply' in device['unknown_reason']['model']


# -- 4. only printable text from a phone reaches a sentence ---------------------------------------

@pytest.mark.parametrize('content_type', ['text/html\x1b[31m;\n evil', 'x\x00y', 'text/\u202eevil'])
def test_a_hostile_content_type_is_printable_in_the_sentence(content_type):
    client = client_for('api-get_accounts', (200, content_type, b'<html>nope</html>'))[0]
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert str(caught.value).isprintable()
    assert '\x1b' not in str(caught.value) and '\u202e' not in str(caught.value)


@pytest.mark.parametrize('body', [ESC, '\x00\x07', '\u202e' + 'gnp.exe', '\r\nX-Injected: 1'])
def test_hostile_strings_in_an_answer_become_printable(body):
    client = client_for('api-get_phone_status', success(json.dumps(body)))[0]
    status = client.get_phone_status()['status']
    assert status.isprintable() and '\x1b' not in status and '\u202e' not in status


def test_a_rejected_command_answer_is_printable():
    client = client_for('api-send_key', success(json.dumps(ESC)).replace(b'success', b'error'))[0]
    with pytest.raises(CTIError) as caught:
        client.send_key(['OK'])
    assert caught.value.error_class == 'rejected' and str(caught.value).isprintable()


# -- 5. what one phone can put in memory and in a report is bounded, and the cut is said --------------

def test_thirty_thousand_accounts_under_the_body_cap_are_cut_to_the_most_a_phone_has():
    body = success(json.dumps([{'id': number, 'reg': 1} for number in range(31000)], separators=(',', ':')))
    assert len(body) < MAX_BODY
    client = client_for('api-get_accounts', body)[0]
    accounts = client.get_accounts()
    assert len(accounts) == 64
    assert any('kept' in note for note in client.cut_notes), client.cut_notes


def test_long_strings_and_many_fields_are_cut_and_said():
    big = {'id': 1, 'sip_id': 'x' * 500000, 'reg': 1}
    big.update(('k%d' % number, 'v') for number in range(5000))
    client = client_for('api-get_accounts', success(json.dumps([big])))[0]
    account = client.get_accounts()[0]
    assert len(account['sip_id']) <= TEXT_LIMIT + 3 and account['sip_id'].endswith('...')
    assert len(account) < 80
    assert client.cut_notes


def test_a_module_result_says_what_was_cut():
    params = {'host': '10.1.4.42', 'passcode': PASSCODE, 'phone_name': 'gs0042'}
    result = run_task(phone_status_info, params, False, transport=scripted_phone())   # its recorded "available"
    assert 'cut' not in result
    body = success(json.dumps([{'line': number, 'state': 'idle'} for number in range(500)]))
    result = run_task(line_status_info, params, False, transport=scripted_phone('api-get_line_status', body))
    assert len(result['lines']) == 64 and result['cut']
