# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A password is never spent twice on a phone that refused it: not in a task (a lost answer included), not in the next
run (the memory of refused passwords), and a wrong shared password costs a fleet task a few phones, not all."""

import json
import os
import threading

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import credentials
from ansible_collections.phonefleet.grandstream.plugins.module_utils.credentials import (
    CredentialGate, GateClosed, RefusalMemory,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, fan_out
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone, refused, reset

PASSWORD = 'Wr0ng-but-long'
THE_PHONES = 'Th3-phones-own'   # what the phones that refuse PASSWORD want


def connection(password=PASSWORD, host='10.1.4.42', **more):
    return CTIConnection(host, passcode=password, name='gs0042', **more)


def make_phone(accepts=PASSWORD, model='GRP2614'):
    """A fixture phone whose password is ``accepts`` and that lists no SIP account (its accounts read ``[]``)."""
    return FixturePhone.of_model(model, passcode=accepts, accounts=[])


def refusing(model='GRP2614'):
    """A phone that refuses PASSWORD (its recorded answer: HTTP 401 to a passcode, ``wrong<n>`` to a web login)."""
    return make_phone(accepts=THE_PHONES, model=model)


def sent_passwords(phone):
    return [request for request in phone.requests if {'passcode', 'password'} & set(request['secrets'])]


# -- the memory, across clients (runs) ------------------------------------------------------------

def test_a_refused_passcode_is_not_sent_again_in_the_next_run(private_state_dir):
    first = refusing()
    with pytest.raises(CTIError) as caught:
        CTIClient(connection(), transport=first).get_accounts()
    assert caught.value.error_class == 'auth_failed'
    stored = (private_state_dir / 'refused_passwords.json').read_text()
    assert PASSWORD not in stored and '10.1.4.42:80' in stored
    assert oct(os.stat(str(private_state_dir / 'refused_passwords.json')).st_mode & 0o777) == '0o600'

    second = make_phone()
    with pytest.raises(CTIError) as caught:
        CTIClient(connection(), transport=second).get_accounts()
    assert second.requests == [], 'not one request: the phone refused this password before'
    error = caught.value
    assert error.error_class == 'auth_failed' and 'not tried: this password was refused at ' in str(error)
    assert error.to_result()['refused_at'] and 'grandstream_retry_refused' in str(error)
    assert PASSWORD not in str(error)


def test_a_changed_password_dialect_or_user_is_tried(private_state_dir):
    with pytest.raises(CTIError):
        CTIClient(connection(), transport=refusing()).get_accounts()
    fixed = make_phone(accepts='the-fixed-one')
    assert CTIClient(connection(password='the-fixed-one'), transport=fixed).get_accounts() == []
    assert len(sent_passwords(fixed)) == 1
    other_phone = make_phone()
    assert CTIClient(connection(host='10.1.4.43'), transport=other_phone).get_accounts() == []


def test_retry_refused_tries_once_more_and_forgets_when_accepted(private_state_dir):
    with pytest.raises(CTIError):
        CTIClient(connection(), transport=refusing()).get_accounts()
    accepting = make_phone()
    assert CTIClient(connection(retry_refused=True), transport=accepting).get_accounts() == []
    assert len(sent_passwords(accepting)) == 1
    # Accepted now: the next run tries it without being told.
    accepting = make_phone()
    assert CTIClient(connection(), transport=accepting).get_accounts() == []


def test_a_refused_web_login_is_remembered_too(private_state_dir):
    first = refusing(model='WP826')
    first.script('dologin', {'response': 'error', 'body': 'wrong3'})   # two wrong attempts counted before this one
    with pytest.raises(CTIError) as caught:
        CTIClient(connection(auth='session'), transport=first).get_accounts()
    assert caught.value.to_result()['attempts_left'] == 3
    second = refusing(model='WP826')
    with pytest.raises(CTIError) as caught:
        CTIClient(connection(auth='session'), transport=second).get_accounts()
    assert second.requests == [] and 'not tried' in str(caught.value)


def test_a_lock_or_a_forbidden_answer_is_not_remembered_as_a_wrong_password(private_state_dir):
    locked = make_phone()
    locked.script('api-get_accounts', {'response': 'error', 'body': 'locked', 'lockTime': 5})
    cti_off = FixturePhone(passcode=PASSWORD, settings={'P32050': '0'})   # Action URI off: the recorded 403
    for answering in (locked, cti_off):
        with pytest.raises(CTIError):
            CTIClient(connection(), transport=answering).get_accounts()
    assert not (private_state_dir / 'refused_passwords.json').exists()


@pytest.mark.parametrize('content', [b'', b'not json', b'[1, 2]', b'{"phones": {}}', b'\xff' * 100])
def test_a_broken_memory_file_starts_empty_and_says_so(private_state_dir, content):
    private_state_dir.mkdir()
    (private_state_dir / 'refused_passwords.json').write_bytes(content)
    memory = RefusalMemory(str(private_state_dir / 'refused_passwords.json'))
    assert memory.refused(connection()) is None
    assert 'could not be read' in memory.problem
    memory.remember(connection(), 'HTTP 401')
    assert memory.refused(connection())['what'] == 'HTTP 401'


def test_the_memory_file_is_not_followed_through_a_symlink(private_state_dir, tmp_path):
    private_state_dir.mkdir()
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    os.symlink(str(victim), str(private_state_dir / 'refused_passwords.json'))
    memory = RefusalMemory(str(private_state_dir / 'refused_passwords.json'))
    assert memory.refused(connection()) is None
    memory.remember(connection(), 'HTTP 401')
    assert victim.read_text() == 'precious'
    assert not os.path.islink(str(private_state_dir / 'refused_passwords.json'))


def test_several_processes_worth_of_writers_keep_every_phone(private_state_dir):
    path = str(private_state_dir / 'refused_passwords.json')
    memories = [RefusalMemory(path) for dummy in range(4)]
    threads = [threading.Thread(target=memories[index % 4].remember, args=(connection(host='10.1.5.%d' % index), 'x'))
               for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads(open(path).read())['phones']) == 20


# -- within a task: a lost answer -------------------------------------------------------------

def test_a_passcode_whose_answer_was_lost_is_not_sent_again():
    lost = make_phone()
    lost.script('api-get_accounts', reset())   # the connection dropped after the request left
    client = CTIClient(connection(), transport=lost)
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert caught.value.error_class == 'unreachable'
    assert len(sent_passwords(lost)) == 1, 'the read is not retried with the password'
    with pytest.raises(CTIError) as caught:
        client.get_phone_status()
    assert len(sent_passwords(lost)) == 1 and 'was not sent again' in str(caught.value)


def test_a_passcode_accepted_once_may_be_retried_after_a_reset():
    accepting = make_phone()
    accepting.status = 'available'      # (it lists no account, yet answers available)
    accepting.script('api-get_phone_status', reset())
    client = CTIClient(connection(), transport=accepting)
    assert client.get_accounts() == []
    assert client.get_phone_status()['status'] == 'available'


def test_a_refused_connection_before_anything_left_is_retried():
    accepting = make_phone()
    accepting.script('api-get_accounts', refused())
    assert CTIClient(connection(), transport=accepting).get_accounts() == []


def test_a_web_login_whose_answer_was_lost_is_never_sent_again():
    wp = make_phone(model='WP826')
    wp.script('dologin', reset())
    client = CTIClient(connection(auth='session'), transport=wp)
    with pytest.raises(CTIError):
        client.get_accounts()
    with pytest.raises(CTIError) as caught:
        client.get_accounts()
    assert len([request for request in wp.requests if request['url'].endswith('/dologin')]) == 1
    assert 'was not sent again' in str(caught.value)


# -- a fleet task: the gate ---------------------------------------------------------------------

def test_the_gate_lets_the_first_probes_try_then_closes():
    gate = CredentialGate(probes=3)
    key = gate.key(connection())
    for label in ('a', 'b', 'c'):
        gate.enter(key)
        gate.refused(key, label)
    with pytest.raises(GateClosed) as caught:
        gate.enter(key)
    assert caught.value.refusals == ['a', 'b', 'c']


def test_the_gate_opens_for_everyone_once_one_phone_accepts():
    gate = CredentialGate(probes=2, wait_step=0.01)
    key = gate.key(connection())
    gate.enter(key)
    gate.enter(key)
    released = []
    waiter = threading.Thread(target=lambda: released.append(gate.enter(key) or True))
    waiter.start()
    waiter.join(0.05)
    assert not released, 'a third phone waits while two try'
    gate.accepted(key)
    waiter.join(2)
    assert released == [True]


def test_an_unreachable_probe_frees_its_place_without_deciding():
    gate = CredentialGate(probes=1, wait_step=0.01)
    key = gate.key(connection())
    gate.enter(key)
    gate.undecided(key)
    gate.enter(key)  # not closed, not blocked


def fleet(count, password=PASSWORD):
    return [FleetTarget('gs%02d' % number, CTIConnection('10.1.6.%d' % number, passcode=password, name='gs%02d' % number))
            for number in range(count)]


def test_a_wrong_shared_password_costs_three_phones_an_attempt_not_the_fleet():
    phones = dict(('gs%02d' % number, refusing()) for number in range(30))
    results = fan_out(fleet(30), lambda client, target: {'n': len(client.get_accounts())}, concurrency=30,
                      transport_factory=lambda target: phones[target.name])
    tried = [name for name, phone in phones.items() if sent_passwords(phone)]
    assert len(tried) == credentials.GATE_PROBES
    assert all(result['error_class'] == 'auth_failed' for result in results)
    spared = [result for result in results if result['name'] not in tried]
    assert all('not tried: the first 3 phones' in result['error'] for result in spared)


def test_a_right_shared_password_slows_no_phone_down():
    phones = dict(('gs%02d' % number, make_phone(accepts='right-one')) for number in range(30))
    results = fan_out(fleet(30, password='right-one'), lambda client, target: {'n': len(client.get_accounts())},
                      concurrency=30, transport_factory=lambda target: phones[target.name])
    assert all(result['ok'] for result in results)
