"""The simulator and the unit tests' fixture phone (tests/fixtures/fixture_phone.py) serve the same recordings: for
every recorded model and firmware, a simulated phone and a fixture phone in the same state give the same answers to
the same requests (CTI, model.define.js, login fields, every recorded setting in the phone's wire form)."""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.profiles import recorded  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet
PASSWORD = 'Rec0rded-pw'
ACCOUNT = {'sip_id': '1001', 'sip_server': 'pbx.example.net', 'name': 'office'}


def fixture_phone_module():
    """tests/fixtures/fixture_phone.py by its path, as a tool outside the collection tree imports it."""
    spec = importlib.util.spec_from_file_location('agreement_fixture_phone', REPO / 'tests' / 'fixtures' / 'fixture_phone.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


class FixtureSide:
    """Requests to the fixture phone, with the same login the simulator gets."""

    def __init__(self, phone):
        self.phone = phone
        self.origin = 'http://%s:%d' % (phone.host, phone.port)
        self.headers = {'Origin': self.origin, 'Referer': self.origin + '/'}
        self.sid = None

    def login(self):
        password = PASSWORD
        if self.phone.info['login'] == 'sha256':
            answer = self.phone.exchange('POST', self.origin + '/cgi-bin/access', 5, data={'access': sha('admin')}, headers=self.headers)
            password = sha(PASSWORD + json.loads(answer.body)['body'])
        answer = json.loads(self.phone.exchange('POST', self.origin + '/cgi-bin/dologin', 5, data={'username': 'admin', 'password': password},
                                                headers=self.headers).body)
        self.sid = answer['body']['sid']
        return answer['body']

    def get(self, path, **params):
        answer = self.phone.exchange('GET', self.origin + path, 5, params=params)
        return answer.status, answer.content_type, answer.body.decode()

    def post(self, path, **form):
        answer = self.phone.exchange('POST', self.origin + path, 5, data=form, headers=self.headers)
        return answer.status, answer.content_type, answer.body.decode()


def sim_answer(answer):
    return answer.status_code, answer.headers['Content-Type'], answer.text


@pytest.mark.parametrize('folder', recorded.folders())
def test_simulator_and_fixture_phone_answer_alike(sim_fleet, folder):
    info = recorded.phone_info(folder)
    fleet = sim_fleet(spec={'phones': [{'name': 'sim', 'model': info['model'], 'version': info['firmware'], 'auth': info['cti_dialect'],
                                        'firmware': info['api_shape'], 'mac': info['mac'], 'passcode': PASSWORD, 'accounts': [ACCOUNT]}]})
    sim = fleet.phone('sim')
    fixture = FixtureSide(fixture_phone_module().FixturePhone(folder, passcode=PASSWORD, host=sim.host, port=sim.port))
    session = sim.login_session()
    sim_login, fixture_login = dict(session.login), fixture.login()
    for login in (sim_login, fixture_login):
        login.pop('sid')
        login.pop('role')
    assert sim_login == fixture_login
    assert list(session.login) == list(recorded.recorded_json(folder, 'dologin')['body'])

    for function in ('api-get_accounts', 'api-get_line_status', 'api-get_phone_status'):
        if info['cti_dialect'] == 'passcode':
            assert sim_answer(session.get(sim.url(function), timeout=5)) == fixture.get('/cgi-bin/' + function, passcode=PASSWORD), function
        else:
            assert sim_answer(session.post(sim.url(function), data={'sid': session.login['sid']}, timeout=5)) == \
                fixture.post('/cgi-bin/' + function, sid=fixture.sid), function
    assert sim_answer(session.get(sim.path_url('/json/configs/model.define.js'), timeout=5)) == fixture.get('/json/configs/model.define.js')

    keys = sorted(set(recorded.base_settings(folder)) | {'99999', '196', '4505'}, key=int)
    if info['settings_form'] == 'json':
        pvalues = ','.join(keys)
        assert sim_answer(session.get(sim.path_url('/cgi-bin/config_get', pvalues=pvalues), timeout=5)) == \
            fixture.get('/cgi-bin/config_get', pvalues=pvalues, sid=fixture.sid)
        assert sim_answer(session.get(sim.path_url('/cgi-bin/metaconfig_get'), timeout=5)) == \
            fixture.get('/cgi-bin/metaconfig_get', sid=fixture.sid)
    else:
        request = ':'.join('P' + key for key in keys)
        assert sim_answer(session.post(sim.path_url('/cgi-bin/api.values.get'), data={'request': request}, timeout=5)) == \
            fixture.post('/cgi-bin/api.values.get', request=request, sid=fixture.sid)
    if info.get('download_cfg'):
        assert sim_answer(session.get(sim.path_url('/cgi-bin/download_cfg'), timeout=5)) == fixture.get('/cgi-bin/download_cfg', sid=fixture.sid)
    session.close()


def test_unknown_paths_and_missing_credentials_answer_alike(sim_fleet):
    fleet = sim_fleet(spec={'phones': [{'name': 'sim', 'passcode': PASSWORD, 'mac': '00:0B:82:12:34:56'}]})
    sim = fleet.phone('sim')
    fixture = FixtureSide(fixture_phone_module().FixturePhone('GRP2614_1.0.5.67', passcode=PASSWORD, host=sim.host, port=sim.port))
    with requests.Session() as session:
        session.trust_env = False
        assert sim_answer(session.get(sim.url('get_accounts', passcode='wrong'), timeout=5)) == \
            fixture.get('/cgi-bin/api-get_accounts', passcode='wrong')
        assert sim_answer(session.get(sim.path_url('/cgi-bin/api-no_such_function'), timeout=5)) == \
            fixture.get('/cgi-bin/api-no_such_function')
        assert sim_answer(session.get(sim.path_url('/cgi-bin/config_get', pvalues='30'), timeout=5)) == \
            fixture.get('/cgi-bin/config_get', pvalues='30')
