"""The simulator's firmware upgrades (cti-api.md section 8) and its firmware server, over real HTTP on 127.0.0.0/8:
an upgrade that works, every way one does not (the phone comes back on its old version and says nothing), the
settings that stall a rollout (P238, P145 with DHCP, P8375, a cloud owner), and fetches only ever to loopback."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

import sim_fixtures  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware import check_image, make_firmware_image, write_firmware_image  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware_server import FirmwareServer  # noqa: E402  pylint: disable=wrong-import-position

sim_fleet = sim_fixtures.sim_fleet

FAST = {'save_delay': 0.1, 'down_time': 0.2, 'register_delay': 0.1, 'flash_time': 0.2}
NEW = '1.0.7.81'


@pytest.fixture
def fw_server(tmp_path):
    (tmp_path / 'fw').mkdir()
    with FirmwareServer(tmp_path / 'fw') as server:
        yield server


def client():
    session = requests.Session()
    session.trust_env = False
    return session


def reboot_and_wait(fleet, phone):
    """REBOOT through CTI; wait until the phone is back (web server listening); returns the fleet events since."""
    since = time.monotonic()
    with (phone.login_session() if phone.spec.session_dialect else client()) as session:
        assert session.post(phone.url('sys_operation', request='REBOOT'), timeout=5).json()['body'] == 'savereboot'
    fleet.wait_for('up', phone=phone.name, since=since, timeout=20)
    return since


def firmware_events(fleet, phone, since):
    return [event for event in fleet.events(phone=phone.name, since=since) if event['event'].startswith('firmware_')]


def login_version(phone):
    with phone.login_session() as session:
        return session.login['ver']


def test_image_format_and_helper(tmp_path):
    image = make_firmware_image('gxp1600', NEW)
    assert image.startswith(b'GSFW1 gxp1600fw.bin 1.0.7.81 4096 ')
    assert check_image(image, 'gxp1600fw.bin') == ('ok', NEW)
    assert check_image(make_firmware_image('GXP1628', NEW, corrupt=True), 'gxp1600fw.bin') == ('bad_checksum', NEW)
    assert check_image(make_firmware_image('GRP2614', NEW), 'gxp1600fw.bin') == ('wrong_model', NEW)
    assert check_image(b'<html>not an image</html>', 'gxp1600fw.bin') == ('not_an_image', None)
    path = write_firmware_image(tmp_path, 'GRP2602', NEW, prefix='pre-', postfix='.v2')
    assert os.path.basename(path) == 'pre-grp2600fw.bin.v2'


def test_upgrade_fetches_flashes_and_comes_back_on_the_new_version(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GRP2614', NEW)
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P8375': '0'}}]}, **FAST)
    grp = fleet.phone('grp')
    with client() as session:
        model_js = session.get(grp.path_url('/json/configs/model.define.js'), timeout=5).text
    since = reboot_and_wait(fleet, grp)
    assert [event['event'] for event in firmware_events(fleet, grp, since)] == ['firmware_fetch', 'firmware_flash', 'firmware_upgraded']
    fetch = fleet.events(phone='grp', event='firmware_fetch', since=since)[0]
    assert fetch['url'] == 'http://%s/grp2610fw.bin' % fw_server.host_path and fetch['outcome'] == 'ok'
    assert grp.version == NEW and login_version(grp) == NEW
    with grp.login_session() as session:
        assert session.get(grp.path_url('/cgi-bin/config_get', pvalues='68'), timeout=5).json()['configs'][0]['value'] == NEW
    with client() as session:
        assert session.get(grp.path_url('/json/configs/model.define.js'), timeout=5).text == model_js
    (served,) = fw_server.requests()
    assert (served['method'], served['path'], served['status'], served['client']) == ('GET', '/grp2610fw.bin', 200, grp.host)
    assert served['user_agent'] == 'Grandstream Model HW GRP2614 SW 1.0.5.67 DevId 000b82000001'
    # Booting again: the image is the running version now; nothing is flashed.
    since = reboot_and_wait(fleet, grp)
    assert fleet.events(phone='grp', event='firmware_rejected', since=since)[0]['reason'] == 'same_version'


@pytest.mark.parametrize('case, reason', [
    ('missing', None), ('corrupt', 'bad_checksum'), ('other_model', 'wrong_model'), ('downgrade', 'downgrade'),
    ('not_an_image', 'not_an_image')])
def test_failed_upgrades_keep_the_old_version(sim_fleet, fw_server, case, reason):
    directory = fw_server.directory
    if case == 'corrupt':
        write_firmware_image(directory, 'WP826', '1.0.5.1', corrupt=True)
    elif case == 'other_model':
        with open(os.path.join(directory, 'wp8xx-simfw.bin'), 'wb') as handle:
            handle.write(make_firmware_image('GRP2614', '1.0.5.1'))
    elif case == 'downgrade':
        write_firmware_image(directory, 'WP826', '1.0.1.87')
    elif case == 'not_an_image':
        with open(os.path.join(directory, 'wp8xx-simfw.bin'), 'wb') as handle:
            handle.write(b'<html>captive portal</html>')
    fleet = sim_fleet(spec={'phones': [{'name': 'wp', 'model': 'WP826', 'auth': 'session',
                                        'settings': {'P192': fw_server.host_path, 'P6767': '1'}}]}, **FAST)
    wp = fleet.phone('wp')
    since = reboot_and_wait(fleet, wp)
    fetch = fleet.events(phone='wp', event='firmware_fetch', since=since)[0]
    if case == 'missing':
        assert (fetch['outcome'], fetch['status']) == ('not_found', 404)
    else:
        assert fetch['outcome'] == 'ok'
        assert fleet.events(phone='wp', event='firmware_rejected', since=since)[0]['reason'] == reason
    assert not fleet.events(phone='wp', event=('firmware_flash', 'firmware_upgraded'))
    assert wp.version == '1.0.3.35' and login_version(wp) == '1.0.3.35'
    fleet.wait_for('registered', phone='wp', since=since, timeout=10)     # it comes back normally


def test_downgrade_allowed_when_the_spec_says_so(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'gxp1600', '1.0.7.79')
    fleet = sim_fleet(spec={'phones': [{'name': 'gxp', 'model': 'GXP1628', 'auth': 'session_plain', 'allow_downgrade': True,
                                        'settings': {'P192': fw_server.host_path}}]}, **FAST)
    gxp = fleet.phone('gxp')
    reboot_and_wait(fleet, gxp)
    assert gxp.version == '1.0.7.79'


def test_unreachable_server_tftp_and_non_loopback_targets_fail_the_fetch(sim_fleet, fw_server):
    closed = FirmwareServer(fw_server.directory).start()
    closed.stop()    # its port is free now: connection refused
    write_firmware_image(fw_server.directory, 'GRP2614', NEW)
    fleet = sim_fleet(spec={'phones': [
        {'name': 'refused', 'settings': {'P192': closed.host_path, 'P6767': '1'}},
        {'name': 'tftp', 'settings': {'P192': fw_server.host_path, 'P6767': '0'}},
        {'name': 'lan', 'settings': {'P192': '192.0.2.10/firmware', 'P6767': '1'}},
        {'name': 'dns', 'settings': {'P192': 'fw.example.net/gs', 'P6767': '2'}},
        {'name': 'vendor'}]}, **FAST)
    for phone in fleet.phones:
        since = reboot_and_wait(fleet, phone)
        (fetch,) = fleet.events(phone=phone.name, event='firmware_fetch', since=since)
        expected = {'refused': 'unreachable', 'tftp': 'tftp_unsupported', 'lan': 'not_loopback', 'dns': 'not_loopback',
                    'vendor': 'not_loopback'}[phone.name]
        assert fetch['outcome'] == expected, phone.name
        assert phone.version == '1.0.5.67'
    assert fleet.events(phone='dns', event='firmware_fetch')[0]['url'] == 'https://fw.example.net/gs/grp2610fw.bin'
    assert fleet.events(phone='vendor', event='firmware_fetch')[0]['url'] == 'https://fm.grandstream.com/gs/grp2610fw.bin'
    assert fw_server.requests() == []      # the TFTP phone sent nothing to the HTTP server either


def test_check_at_boot_skip_and_only_when_prefix_changes(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GRP2614', NEW, prefix='v2-')
    fleet = sim_fleet(spec={'phones': [{'name': 'skip', 'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P238': '2', 'P232': 'v2-'}},
                                       {'name': 'affix', 'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P238': '1', 'P8375': '0'}}]},
                      **FAST)
    skip, affix = fleet.phone('skip'), fleet.phone('affix')
    reboot_and_wait(fleet, skip)
    since = reboot_and_wait(fleet, affix)
    assert [event['reason'] for event in fleet.events(event='firmware_skipped')] == ['check_disabled', 'affixes_unchanged']
    assert fw_server.requests() == []
    with affix.login_session() as session:
        session.put(affix.path_url('/cgi-bin/config_update'), data=json.dumps({'pvalue': {'232': 'v2-'}}), timeout=5)
    since = reboot_and_wait(fleet, affix)
    assert fleet.events(phone='affix', event='firmware_upgraded', since=since)[0]['version'] == NEW
    assert [entry['path'] for entry in fw_server.requests()] == ['/v2-grp2610fw.bin']
    assert skip.version == '1.0.5.67'


def test_upgrade_confirmation_waits_for_a_person(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GRP2614', NEW)
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'settings': {'P192': fw_server.host_path, 'P6767': '1'}}]}, **FAST)
    grp = fleet.phone('grp')
    assert grp.setting('P8375') == '1'      # the GRP26xx default (doc)
    since = reboot_and_wait(fleet, grp)
    waiting = fleet.events(phone='grp', event='firmware_waiting', since=since)
    assert waiting and waiting[0]['version'] == NEW and grp.version == '1.0.5.67' and login_version(grp) == '1.0.5.67'
    assert grp.confirm_upgrade() is True
    fleet.wait_for('up', phone='grp', request='UPGRADE', timeout=10)
    assert grp.version == NEW and login_version(grp) == NEW
    assert [event['event'] for event in fleet.events(phone='grp', event=('down', 'firmware_flash', 'firmware_upgraded', 'up'), since=since)] == \
        ['down', 'up', 'down', 'firmware_flash', 'firmware_upgraded', 'up']


def test_dhcp_offered_path_overrides_p192_while_p145_is_on(sim_fleet, fw_server, tmp_path):
    (tmp_path / 'dhcp').mkdir()
    write_firmware_image(tmp_path / 'dhcp', 'GRP2614', NEW)
    with FirmwareServer(tmp_path / 'dhcp') as dhcp_server:
        fleet = sim_fleet(spec={'phones': [
            {'name': 'on', 'dhcp_firmware_path': dhcp_server.host_path, 'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P8375': '0'}},
            {'name': 'off', 'dhcp_firmware_path': dhcp_server.host_path,
             'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P8375': '0', 'P145': '0'}}]}, **FAST)
        for phone in fleet.phones:
            reboot_and_wait(fleet, phone)
        assert [entry['client'] for entry in dhcp_server.requests()] == [fleet.phone('on').host]
    assert [entry['client'] for entry in fw_server.requests()] == [fleet.phone('off').host]
    assert fleet.phone('on').version == NEW and fleet.phone('off').version == '1.0.5.67'
    assert fleet.events(phone='on', event='firmware_fetch')[0]['source'] == 'dhcp'


def test_a_cloud_owner_keeps_the_firmware_path(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GRP2614', NEW)
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'cloud_managed': True}]}, **FAST)
    grp = fleet.phone('grp')
    with grp.login_session() as session:
        answer = session.put(grp.path_url('/cgi-bin/config_update'), timeout=5,
                             data=json.dumps({'pvalue': {'192': fw_server.host_path, '6767': '1', '8375': '0'}}))
        assert answer.json() == {'response': 'success', 'body': {'status': 'right'}}
    since = reboot_and_wait(fleet, grp)
    assert fleet.events(phone='grp', event='firmware_fetch', since=since)[0]['outcome'] == 'not_loopback'
    assert grp.version == '1.0.5.67' and fw_server.requests() == []


def test_older_gxp21xx_takes_the_protocol_from_p212_and_its_upgrade_changes_the_wire_form(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GXP2170', '1.0.11.3')
    fleet = sim_fleet(spec={'phones': [{'name': 'gxp21', 'model': 'GXP2170', 'settings': {'P192': fw_server.host_path}}]}, **FAST)
    gxp21 = fleet.phone('gxp21')
    assert (gxp21.version, gxp21.profile.settings_form, gxp21.setting('P212')) == ('1.0.9.135', 'form', '1')
    reboot_and_wait(fleet, gxp21)
    assert gxp21.version == '1.0.11.3' and gxp21.profile.settings_form == 'json'
    with gxp21.login_session() as session:
        configs = session.get(gxp21.path_url('/cgi-bin/config_get', pvalues='68,192,6767'), timeout=5).json()['configs']
        assert [item['value'] for item in configs] == ['1.0.11.3', fw_server.host_path, '2']
        assert session.post(gxp21.path_url('/cgi-bin/api.values.get'), data={'request': 'P68'}, timeout=5).status_code == 404


def test_power_on_checks_firmware_too(sim_fleet, fw_server):
    write_firmware_image(fw_server.directory, 'GRP2614', NEW)
    fleet = sim_fleet(spec={'phones': [{'name': 'grp', 'fault': 'never_back', 'settings': {'P192': fw_server.host_path, 'P6767': '1', 'P8375': '0'}}]},
                      **FAST)
    grp = fleet.phone('grp')
    with client() as session:
        session.get(grp.url('sys_operation', request='REBOOT'), timeout=5)
    fleet.wait_for('down', phone='grp', timeout=5)
    assert fw_server.requests() == []
    grp.set_fault(None)
    assert grp.power_on() is True
    fleet.wait_for('up', phone='grp', request='power_on', timeout=10)
    assert grp.version == NEW


# ---------------------------------------------------------------- the firmware server


def test_firmware_server_logs_head_and_get_and_refuses_what_is_not_there(tmp_path):
    (tmp_path / 'fw').mkdir()
    (tmp_path / 'secret.txt').write_text('outside')
    write_firmware_image(tmp_path / 'fw', 'gxp1600', NEW)
    with FirmwareServer(tmp_path / 'fw', host='127.0.0.1', latency=0.05, log_path=tmp_path / 'log.jsonl') as server:
        with client() as session:
            head = session.head(server.url('gxp1600fw.bin'), headers={'User-Agent': 'probe'}, timeout=5)
            got = session.get(server.url('gxp1600fw.bin'), timeout=5)
            assert session.get(server.url('missing.bin'), timeout=5).status_code == 404
            assert session.get(server.url('../secret.txt'), timeout=5).status_code == 404
            assert session.get(server.url('%2e%2e/secret.txt'), timeout=5).status_code == 404
        assert head.status_code == 200 and head.content == b'' and int(head.headers['Content-Length']) == len(got.content)
        assert check_image(got.content, 'gxp1600fw.bin') == ('ok', NEW)
        log = server.requests()
        assert [(entry['method'], entry['status']) for entry in log] == [('HEAD', 200), ('GET', 200), ('GET', 404), ('GET', 404), ('GET', 404)]
        assert log[0]['user_agent'] == 'probe' and log[0]['bytes'] == 0 and log[1]['bytes'] == len(got.content)
        assert server.wait_for_request('/gxp1600fw.bin')['method'] == 'HEAD'
    assert len((tmp_path / 'log.jsonl').read_text().splitlines()) == 5
    with pytest.raises(ValueError, match='outside 127.0.0.0/8'):
        FirmwareServer(tmp_path, host='0.0.0.0')


def test_firmware_server_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / 'tests' / 'simulator'))
    with subprocess.Popen([sys.executable, '-m', 'phonesim.firmware_server', '--dir', str(tmp_path / 'fw'), '--host', '127.0.0.1',
                           '--image', 'GRP2614=1.0.7.81', '--image', 'gxp1600=1.0.7.81', '--log', str(tmp_path / 'log.jsonl')],
                          env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith('phonesim.firmware_server: serving ')
            base = line.rsplit(' on ', 1)[1].strip()
            with client() as session:
                assert session.get(base + 'grp2610fw.bin', timeout=5).status_code == 200
        finally:
            proc.terminate()
        assert proc.wait(10) == 0
    assert sorted(os.listdir(tmp_path / 'fw')) == ['grp2610fw.bin', 'gxp1600fw.bin']
    assert json.loads((tmp_path / 'log.jsonl').read_text())['path'] == '/grp2610fw.bin'
    bad = subprocess.run([sys.executable, '-m', 'phonesim.firmware_server', '--dir', str(tmp_path), '--host', '10.0.0.1'],
                         env=env, capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 1 and 'outside 127.0.0.0/8' in bad.stderr and 'Traceback' not in bad.stderr
