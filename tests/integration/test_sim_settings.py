"""The simulator's settings (P-values, cti-api.md sections 6-7) over real HTTP on 127.0.0.0/8: both wire forms, the web
login on passcode phones, dropped writes, write-only secrets, the alias catalogue, download_cfg, CVE-2026-2329, the
Action URI switch and allowed list, and answers that are the recorded ones (tests/fixtures)."""

import json
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim import PhoneSpec  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.profiles import recorded  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

STRONG = 'N3w-admin-pw'
FLEET = {'phones': [
    {'name': 'grp', 'model': 'GRP2614'},
    {'name': 'wp', 'model': 'WP826', 'auth': 'session', 'firmware': 'new'},
    {'name': 'gxp', 'model': 'GXP1628', 'auth': 'session_plain', 'version': '1.0.7.79'},
    {'name': 'gxp21', 'model': 'GXP2170'},
]}


def form_get(session, phone, keys):
    return session.post(phone.path_url('/cgi-bin/api.values.get'), data={'request': keys}, timeout=5)


def form_post(session, phone, **values):
    return session.post(phone.path_url('/cgi-bin/api.values.post'), data=values, timeout=5)


def json_get(session, phone, keys):
    return session.get(phone.path_url('/cgi-bin/config_get', pvalues=keys), timeout=5)


def json_put(session, phone, pvalue=None, alias=None):
    document = {'alias': alias or {}, 'pvalue': pvalue or {}}
    return session.put(phone.path_url('/cgi-bin/config_update'), data=json.dumps(document), timeout=5)


def values_of(answer):
    """{pvalue: value} of a config_get answer."""
    return dict((item['pvalue'], item['value']) for item in answer.json()['configs'])


def read(session, phone, key):
    """One key through the phone's own wire form."""
    if phone.profile.settings_form == 'json':
        return values_of(json_get(session, phone, key.lstrip('P'))).get(key.lstrip('P'))
    return form_get(session, phone, key).json()['body'].get(key)


def write(session, phone, key, value):
    if phone.profile.settings_form == 'json':
        return json_put(session, phone, {key.lstrip('P'): value}).json()
    return form_post(session, phone, **{key: value}).json()


def plain_client(phone=None):
    session = requests.Session()
    session.trust_env = False
    if phone is not None:
        session.headers.update(Referer=phone.origin + '/', Origin=phone.origin)
    return session


# ---------------------------------------------------------------- wire forms


def test_form_dialect_reads_echo_the_keys_asked_and_writes_answer_right(sim_fleet):
    fleet = sim_fleet(spec=FLEET)
    gxp, gxp21 = fleet.phone('gxp'), fleet.phone('gxp21')
    assert (gxp.profile.settings_form, gxp21.profile.settings_form) == ('form', 'form')
    with gxp.login_session() as session:
        answer = form_get(session, gxp, 'P30:P64:68:P2:P99999:89:P67')
        assert answer.status_code == 200
        # Keys come back as asked (with or without P); this recording leaves unknown keys and secrets out.
        expected = {'P30': 'pool.ntp.org', 'P64': 'EST5EDT,M3.2.0,M11.1.0', '68': '1.0.7.79', '89': 'GXP1628', 'P67': '000B82000003'}
        assert answer.json() == {'response': 'success', 'body': expected}
        assert form_post(session, gxp, P30='ntp.example.net', P207='127.0.0.9').json() == \
            {'response': 'success', 'body': {'status': 'right'}}
        assert form_get(session, gxp, 'P30:P207').json()['body'] == {'P30': 'ntp.example.net', 'P207': '127.0.0.9'}
    # The older GXP2170 (a passcode phone) logs in with sha256 and reads unknown keys and secrets as "".
    with gxp21.login_session() as session:
        assert form_get(session, gxp21, 'P2:P99999:P212:P6767').json()['body'] == {'P2': '', 'P99999': '', 'P212': '1', 'P6767': ''}
    assert gxp.setting('P30') == 'ntp.example.net'


def test_json_dialect_config_get_update_and_post_changes_nothing(sim_fleet):
    fleet = sim_fleet(spec=FLEET)
    grp, wp = fleet.phone('grp'), fleet.phone('wp')
    for phone, web_http in ((grp, '1'), (wp, '0')):
        with phone.login_session() as session:
            answer = json_get(session, phone, '30,68,2,99999,1650')
            assert answer.status_code == 200
            configs = answer.json()['configs']
            assert configs[0] == {'alias': 'date.ntp.server', 'pvalue': '30', 'value': 'pool.ntp.org'}
            assert configs[1]['value'] == phone.version and configs[2] == {'alias': 'users.admin.password', 'pvalue': '2', 'value': ''}
            assert configs[3] == {'alias': '', 'pvalue': '99999', 'value': ''}       # unknown: no value, no alias
            assert configs[4]['value'] == web_http                                     # plain HTTP, in this line's polarity
            assert json_put(session, phone, {'30': 'ntp.example.net'}).json() == {'response': 'success', 'body': {'status': 'right'}}
            assert json_put(session, phone, alias={'maintenance.syslog.server': '127.0.0.5'}).json()['response'] == 'success'
            posted = session.post(phone.path_url('/cgi-bin/config_update'), data=json.dumps({'pvalue': {'30': 'other'}}), timeout=5)
            assert posted.status_code == 501 and '<html>' in posted.text
            assert values_of(json_get(session, phone, '30,207')) == {'30': 'ntp.example.net', '207': '127.0.0.5'}
            bad = session.put(phone.path_url('/cgi-bin/config_update'), data='not json', timeout=5)
            assert bad.json() == {'response': 'error', 'body': 'failed'}


def test_a_phone_answers_404_html_to_the_other_wire_form(sim_fleet):
    fleet = sim_fleet(spec={'phones': FLEET['phones'] + [{'name': 'bare', 'settings_form': 'none'}]})
    grp, gxp, bare = fleet.phone('grp'), fleet.phone('gxp'), fleet.phone('bare')
    with grp.login_session() as session:
        assert form_get(session, grp, 'P30').status_code == 404
        assert form_post(session, grp, P30='x').status_code == 404
    with gxp.login_session() as session:
        for answer in (json_get(session, gxp, '30'), json_put(session, gxp, {'30': 'x'}),
                       session.get(gxp.path_url('/cgi-bin/metaconfig_get'), timeout=5)):
            assert answer.status_code == 404 and '<html>' in answer.text
    with bare.login_session() as session:
        assert json_get(session, bare, '30').status_code == 404 and form_get(session, bare, 'P30').status_code == 404


def test_metaconfig_is_the_alias_catalogue_and_some_phones_answer_it_without_login(sim_fleet):
    fleet = sim_fleet(spec=FLEET)
    grp, wp = fleet.phone('grp'), fleet.phone('wp')
    with plain_client() as anonymous:
        assert anonymous.get(wp.path_url('/cgi-bin/metaconfig_get'), timeout=5).json() == \
            recorded.recorded_json('WP826_1.0.3.35', 'metaconfig_get')
        assert anonymous.get(grp.path_url('/cgi-bin/metaconfig_get'), timeout=5).json() == \
            {'response': 'error', 'body': {'status': 'session-expired'}}
    with grp.login_session() as session:
        catalogue = session.get(grp.path_url('/cgi-bin/metaconfig_get'), timeout=5).json()
    assert {'pvalue': '192', 'alias': 'provisioning.firmware.serverPath'} in catalogue
    assert [item['pvalue'] for item in catalogue] == sorted((item['pvalue'] for item in catalogue), key=int)


def test_simulator_answers_are_the_recorded_ones(sim_fleet):
    """The simulator and the unit tests' fixture phone serve the same recordings: a default phone answers them byte
    for byte (account 1 is 1001 on pbx.example.net, every line idle)."""
    account = {'sip_id': '1001', 'sip_server': 'pbx.example.net', 'name': 'office'}
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'model': 'GRP2614'},
                                       {'name': 'wp', 'model': 'WP826', 'firmware': 'new', 'accounts': [account]}]})
    for phone, folder in ((fleet.phone('grp'), 'GRP2614_1.0.5.67'), (fleet.phone('wp'), 'WP826_1.0.3.35')):
        with plain_client() as session:
            for function in ('api-get_accounts', 'api-get_line_status', 'api-get_phone_status'):
                answer = session.get(phone.url(function), timeout=5)
                expected = recorded.recording(folder, function)
                assert (answer.status_code, answer.headers['Content-Type'], answer.text) == \
                    (expected['status'], expected['content_type'], expected['body']), (phone.name, function)
            model_js = session.get(phone.path_url('/json/configs/model.define.js'), timeout=5)
            assert model_js.text == recorded.recording(folder, 'model.define.js')['body']
        with phone.login_session() as session:
            assert list(session.login) == list(recorded.recorded_json(folder, 'dologin')['body'])


# ---------------------------------------------------------------- login and sessions


def test_passcode_phones_log_in_with_the_same_password_and_wrong_logins_count_towards_the_lock(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'lock_threshold': 3}]})
    grp = fleet.phone('grp')
    with grp.login_session() as session:
        assert read(session, grp, 'P30') == 'pool.ntp.org'
    with pytest.raises(RuntimeError, match='wrong2'):
        grp.login_session(password='nope')
    with pytest.raises(RuntimeError, match='wrong1'):
        grp.login_session(password='nope')
    with pytest.raises(RuntimeError, match='locked'):
        grp.login_session(password='nope')
    # The lock is the phone's: the CTI passcode is locked out too.
    with plain_client() as session:
        assert session.get(grp.url('get_accounts'), timeout=5).json()['body'] == 'locked'
    assert [event['result'] for event in fleet.events(phone='grp', event='login')] == ['ok', 'wrong', 'wrong', 'locked']


def test_settings_without_a_live_session_answer_session_expired(sim_fleet):
    fleet = sim_fleet(spec={'phones': FLEET['phones'][:3]})
    expired = {'response': 'error', 'body': {'status': 'session-expired'}}
    for name in ('grp', 'wp', 'gxp'):
        phone = fleet.phone(name)
        with phone.login_session() as session:
            assert read(session, phone, 'P30') == 'pool.ntp.org'
            phone.end_sessions('expired')
            answer = json_get(session, phone, '30') if phone.profile.settings_form == 'json' else form_get(session, phone, 'P30')
            assert (answer.status_code, answer.json()) == (200, expired)
            if phone.spec.session_dialect:    # CTI keeps its own answer to an ended session: 401
                assert session.post(phone.url('get_accounts'), timeout=5).status_code == 401
    assert len(fleet.events(event='settings', result='no_session')) == 3
    assert not fleet.events(event='auth_failed')    # an ended session never counts towards the lock


def test_sessions_expire_after_idle_time(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'session_ttl': 0.3}]})
    grp = fleet.phone('grp')
    with grp.login_session() as session:
        assert read(session, grp, 'P30') == 'pool.ntp.org'
        time.sleep(0.5)
        assert json_get(session, grp, '30').json()['body'] == {'status': 'session-expired'}
    assert fleet.events(phone='grp', event='session_ended', cause='expired')


# ---------------------------------------------------------------- dropped writes and secrets


def test_writes_dropped_silently_for_each_cause(sim_fleet):
    fleet = sim_fleet(spec={'phones': [
        {'name': 'grp'}, {'name': 'gxp', 'model': 'GXP1628', 'auth': 'session_plain'},
        {'name': 'viewer', 'role': 'user'}, {'name': 'cloud', 'cloud_managed': True}]})
    right = {'response': 'success', 'body': {'status': 'right'}}
    for name in ('grp', 'gxp'):
        phone = fleet.phone(name)
        with phone.login_session() as session:
            assert write(session, phone, 'P237', 'x' * 256) == right                 # 256 is still fine
            assert write(session, phone, 'P192', 'y' * 257) == right                 # too long: dropped
            assert write(session, phone, 'P68', '9.9.9.9') == right                  # read-only
            assert write(session, phone, 'P2', 'short1') == right                    # weak: under 8 characters
            assert write(session, phone, 'P2', 'lettersonly') == right               # weak: no digit
            assert write(session, phone, 'P123456', 'x') == right                    # unknown to this phone
            assert read(session, phone, 'P237') == 'x' * 256
            assert read(session, phone, 'P192') == 'fm.grandstream.com/gs' and read(session, phone, 'P68') == phone.version
        assert phone.passcode == 'pw-%s' % name
        dropped = {}
        for event in fleet.events(phone=name, event='settings'):
            dropped.update(event.get('dropped', {}))
        assert dropped == {'P192': 'too_long', 'P68': 'read_only', 'P2': 'weak_password', 'P123456': 'unknown'}
    viewer = fleet.phone('viewer')
    with viewer.login_session() as session:
        assert write(session, viewer, 'P30', 'ntp.example.net') == right
        assert read(session, viewer, 'P30') == 'pool.ntp.org'
    assert fleet.events(phone='viewer', event='settings', function='config_update')[0]['dropped'] == {'P30': 'role'}
    cloud = fleet.phone('cloud')
    with cloud.login_session() as session:
        response = json_put(session, cloud, {'192': '127.0.0.9/fw', '6767': '1', '238': '2', '145': '0', '30': 'ntp.example.net'})
        assert response.json() == right
        assert values_of(json_get(session, cloud, '192,6767,238,145,30')) == \
            {'192': 'fm.grandstream.com/gs', '6767': '2', '238': '0', '145': '1', '30': 'ntp.example.net'}
    event = fleet.events(phone='cloud', event='settings', function='config_update')[0]
    assert event['changed'] == ['P30'] and set(event['dropped']) == {'P192', 'P6767', 'P238', 'P145'}


def test_secrets_are_write_only_and_never_logged(sim_fleet, tmp_path):
    fleet = sim_fleet(spec={'phones': FLEET['phones']}, events_path=tmp_path / 'events.jsonl')
    for name in ('grp', 'gxp', 'gxp21'):
        phone = fleet.phone(name)
        with phone.login_session() as session:
            assert write(session, phone, 'P34', 'Sip-S3cret-%s' % name)['response'] == 'success'
            assert write(session, phone, 'P196', 'Us3r-S3cret')['response'] == 'success'
            assert read(session, phone, 'P34') in ('', None) and read(session, phone, 'P196') in ('', None)
        assert phone.setting('P34') == 'Sip-S3cret-%s' % name
    # A strong admin password is written, reads back as "", and is the phone's password from then on.
    grp = fleet.phone('grp')
    with grp.login_session() as session:
        assert write(session, grp, 'P2', STRONG)['response'] == 'success'
        assert read(session, grp, 'P2') == ''
    assert grp.passcode == STRONG
    with plain_client() as session:
        assert session.get(grp.url('get_accounts', passcode=STRONG), timeout=5).json()['response'] == 'success'
    assert grp.login_session(password=STRONG).login['defaultAuth'] is False
    logged = (tmp_path / 'events.jsonl').read_text() + json.dumps(fleet.events())
    for secret in ('Sip-S3cret', 'Us3r-S3cret', STRONG, 'pw-grp', 'pw-gxp'):
        assert secret not in logged


def test_account_keys_mirror_the_accounts(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'register_delay': 0.1}]})
    grp = fleet.phone('grp')
    with grp.login_session() as session:
        assert values_of(json_get(session, grp, '47,35,270')) == {'47': 'pbx.example.net', '35': '1001', '270': 'office'}
        json_put(session, grp, {'35': '', '270': 'lobby'})
        assert grp.accounts[0]['sip_id'] == '' and grp.accounts[0]['name'] == 'lobby' and grp.registered_accounts == []
        json_put(session, grp, {'35': '2002'})
    assert grp.registered_accounts == [1]
    with plain_client() as session:
        assert session.get(grp.url('get_accounts'), timeout=5).json()['body'][0]['sip_id'] == '2002'


def test_download_cfg_on_some_phones_only(sim_fleet):
    fleet = sim_fleet(spec={'phones': FLEET['phones'] + [
        {'name': 'grp-cfg', 'download_cfg': True}, {'name': 'gxp21-user', 'model': 'GXP2170', 'role': 'user'}]})
    gxp21 = fleet.phone('gxp21')
    with gxp21.login_session() as session:
        write(session, gxp21, 'P34', 'Sip-Plain-1')
        answer = session.get(gxp21.path_url('/cgi-bin/download_cfg'), timeout=5)
    assert answer.status_code == 200 and answer.headers['Content-Type'] == 'text/plain'
    lines = answer.text.splitlines()
    assert 'P30=pool.ntp.org' in lines and 'P68=1.0.9.135' in lines
    assert 'P34=Sip-Plain-1' in lines      # secrets in plain text, as phones send them: the collection must redact
    for name in ('grp', 'wp', 'gxp'):
        phone = fleet.phone(name)
        with phone.login_session() as session:
            assert session.get(phone.path_url('/cgi-bin/download_cfg'), timeout=5).status_code == 404
    with fleet.phone('grp-cfg').login_session() as session:
        assert session.get(fleet.phone('grp-cfg').path_url('/cgi-bin/download_cfg'), timeout=5).text.startswith('P2=pw-grp-cfg\n')
    with fleet.phone('gxp21-user').login_session() as session:
        assert session.get(fleet.phone('gxp21-user').path_url('/cgi-bin/download_cfg'), timeout=5).status_code == 401


# ---------------------------------------------------------------- CVE-2026-2329, Action URI, events


def test_cve_2026_2329_long_key_drops_the_connection_of_a_vulnerable_gxp16xx(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'old', 'model': 'GXP1628', 'auth': 'session_plain', 'version': '1.0.7.79'},
                                       {'name': 'fixed', 'model': 'GXP1630', 'auth': 'session_plain', 'version': '1.0.7.81'}]})
    old, fixed = fleet.phone('old'), fleet.phone('fixed')
    long_key = 'P' + '7' * 61
    with old.login_session() as session:
        assert form_get(session, old, 'P30:' + 'P' + '7' * 59).status_code == 200    # 60 characters: still inside
        with pytest.raises(requests.ConnectionError):
            form_get(session, old, 'P30:' + long_key)
    with plain_client(old) as anonymous:      # unauthenticated: the buffer overruns before any session check
        with pytest.raises(requests.ConnectionError):
            form_get(anonymous, old, long_key)
    with fixed.login_session() as session:
        assert form_get(session, fixed, 'P30:' + long_key).json()['body'] == {'P30': 'pool.ntp.org'}
    events = fleet.events(event='cve_2026_2329')
    assert [(event['phone'], event['key_length']) for event in events] == [('old', 62), ('old', 62)]
    assert old.state == 'up'


def test_action_uri_switch_and_allowed_list_gate_cti_only(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'off', 'settings': {'P32050': '0'}},
                                       {'name': 'listed', 'settings': {'P32052': '127.0.0.1, 10.0.0.0/8'}},
                                       {'name': 'other', 'settings': {'P32052': '127.9.9.9'}},
                                       {'name': 'any', 'settings': {'P32052': 'any'}}]})
    with plain_client() as session:
        for name, status in (('off', 403), ('listed', 200), ('other', 403), ('any', 200)):
            answer = session.get(fleet.phone(name).url('get_accounts'), timeout=5)
            assert answer.status_code == status, name
            if status == 403:
                assert '<html>' in answer.text
    assert [event['refused'] for event in fleet.events(event='request', status=403)] == ['cti_disabled', 'not_allowed']
    assert not fleet.events(event='auth_failed')    # refused before the passcode is looked at
    other = fleet.phone('other')
    with other.login_session() as session:           # settings still work, and open CTI again
        json_put(session, other, {'32052': ''})
    with plain_client() as session:
        assert session.get(other.url('get_accounts'), timeout=5).status_code == 200


def test_request_events_never_carry_setting_values(sim_fleet):
    fleet = sim_fleet(spec=FLEET)
    gxp = fleet.phone('gxp')
    with gxp.login_session() as session:
        form_post(session, gxp, P30='ntp.secret-host.example', P2=STRONG)
    for event in fleet.events(phone='gxp', event='request', function='api.values.post'):
        assert event['params'] == {}
    write_event = fleet.events(phone='gxp', event='settings', function='api.values.post')[0]
    assert write_event['written'] == ['P30', 'P2'] and write_event['changed'] == ['P30', 'P2']
    assert 'ntp.secret-host.example' not in json.dumps(fleet.events()) and STRONG not in json.dumps(fleet.events())


def test_reset_restores_the_recorded_factory_settings(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'settings': {'P30': 'ntp.corp.example'}, 'factory_passcode': 'St1cker-pw',
                                        'save_delay': 0.1, 'down_time': 0.2, 'register_delay': 0.1}]})
    grp = fleet.phone('grp')
    assert grp.setting('P30') == 'ntp.corp.example'
    with plain_client() as session:
        assert session.get(grp.url('sys_operation', request='RESET'), timeout=5).json()['body'] == 'reset'
    fleet.wait_for('up', phone='grp', request='RESET', timeout=10)
    assert grp.setting('P30') == 'pool.ntp.org' and grp.setting('P2') == 'St1cker-pw'


def test_spec_settings_are_checked():
    for bad, message in (({'settings': {'NTP': 'x'}}, 'not a P-value'), ({'settings': {'P30': ['x']}}, 'must be a string'),
                         ({'settings_form': 'xml'}, 'settings_form'), ({'flash_time': -1}, 'flash_time')):
        with pytest.raises(ValueError, match=message):
            PhoneSpec(name='x', **bad)
    assert PhoneSpec(name='x', settings={'P238': 2, '30': 'a', 'P4503': None}).settings == {'238': '2', '30': 'a', '4503': None}


def test_settings_that_mirror_other_fields_are_refused(sim_fleet):
    with pytest.raises(ValueError, match='P68'):
        sim_fleet(spec={'phones': [{'name': 'x', 'settings': {'P68': '1.0.0.1'}}]}, start=False)
