"""The firmware_upgrade role and playbook through real ansible-playbook runs against the simulator and its firmware server.

Timings are shortened to seconds (the defaults suit real phones, which take minutes). The simulator's event log is the
referee: what each phone fetched, flashed and rebooted into, which settings were written, that no phone was rebooted
twice, that check mode sent nothing; the firmware server's log says what was asked of it.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'firmware_upgrade.yml'
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

from phonesim.firmware import write_firmware_image  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware_server import FirmwareServer  # noqa: E402  pylint: disable=wrong-import-position

OUTCOMES = ('upgraded', 'already_current', 'kept_old_version', 'blocked', 'skipped_busy', 'failed', 'unreachable',
            'auth_failed', 'not_attempted')
NEW = '1.0.7.81'
OLD = '1.0.7.70'
GRP_NEW = '1.0.5.90'

# Phone timings: a reboot takes about 1 s, the flash 0.3 s and the reboot into the new image 0.6 s more.
FAST_PHONES = {'save_delay': 0.2, 'down_time': 0.6, 'register_delay': 0.3, 'flash_time': 0.3, 'firmware_timeout': 3}
FAST_ROLE = {
    'firmware_upgrade_poll_interval': 0.2,
    'firmware_upgrade_connect_timeout': 2,
    'firmware_upgrade_down_timeout': 3,
    'firmware_upgrade_reboot_timeout': 8,
    'firmware_upgrade_upgrade_timeout': 10,
    'firmware_upgrade_registration_timeout': 3,
    'firmware_upgrade_busy_timeout': 3,
    'firmware_upgrade_image_check_timeout': 3,
}
GXP = {'model': 'GXP1628', 'auth': 'session_plain', 'version': OLD}


@pytest.fixture
def fw_server(tmp_path):
    """A firmware server with the GXP16xx image of 1.0.7.81 and the GRP261x image of 1.0.5.90, one directory each."""
    root = tmp_path / 'fw'
    (root / 'gxp' / NEW).mkdir(parents=True)
    (root / 'grp' / GRP_NEW).mkdir(parents=True)
    write_firmware_image(root / 'gxp' / NEW, 'gxp1600', NEW)
    write_firmware_image(root / 'grp' / GRP_NEW, 'GRP2614', GRP_NEW)
    with FirmwareServer(root) as server:
        yield server


def targets(server, gxp=True, grp=False):
    found = {}
    if gxp:
        found['GXP16*'] = {'version': NEW, 'url': 'http://%s/gxp/%s' % (server.host_path, NEW)}
    if grp:
        found['GRP261*'] = {'version': GRP_NEW, 'url': 'http://%s/grp/%s' % (server.host_path, GRP_NEW)}
    return found


class Run(object):
    """A prepared firmware upgrade: the inventory, the variables, where the reports and the ledger go."""

    def __init__(self, fleet, tmp_path, **variables):
        self.fleet = fleet
        self.tmp_path = tmp_path
        (tmp_path / 'inventory').mkdir(parents=True, exist_ok=True)
        self.inventory = tmp_path / 'inventory' / 'phones.ini'
        fleet.write_ini(self.inventory)
        self.report_dir = tmp_path / 'reports'
        self.variables = dict(FAST_ROLE, firmware_upgrade_report_dir=str(self.report_dir),
                              firmware_upgrade_state_dir=str(tmp_path / 'state'), firmware_upgrade_run_id='fw-run')
        self.variables.update(variables)
        self.state_dir = Path(self.variables['firmware_upgrade_state_dir'])
        self.vars_file = tmp_path / 'vars.json'
        self.vars_file.write_text(json.dumps(self.variables))

    def set(self, **variables):
        self.variables.update(variables)
        self.vars_file.write_text(json.dumps(self.variables))

    def command(self, *extra):
        return [str(BIN / 'ansible-playbook'), '-i', str(self.inventory), str(PLAYBOOK), '-e', '@%s' % self.vars_file] + list(extra)

    def popen(self, env, *extra):
        return subprocess.Popen(self.command(*extra), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)

    def report(self):
        return json.loads((self.report_dir / 'firmware_upgrade.json').read_text())

    def phones(self, report=None):
        return {phone['name']: phone for phone in (report or self.report())['phones']}

    def outcomes(self, report=None):
        return {name: phone['outcome'] for name, phone in self.phones(report).items()}

    def ledger_path(self):
        return self.state_dir / ('%s.json' % self.variables['firmware_upgrade_run_id'])

    def ledger(self):
        return {entry.get('name', key): entry for key, entry in json.loads(self.ledger_path().read_text())['phones'].items()}


def run_playbook(run_ansible, run, *extra):
    proc = run_ansible(*run.command(*extra), timeout=300)
    output = proc.stdout + proc.stderr
    assert_no_passcode(run.fleet, output, 'the output')
    return proc, output


def assert_no_passcode(fleet, text, where):
    for phone in fleet.phones:
        assert phone.spec.passcode not in text, 'a passcode leaked into %s' % where


def reboots_per_phone(fleet, since=None):
    """REBOOT commands each phone took (the reboot into a flashed image is not one)."""
    return collections.Counter(event['phone'] for event in fleet.events(event='reboot', since=since))


def settings_writes(fleet, since=None):
    return [event for event in fleet.events(event='settings', since=since)
            if event.get('function') in ('api.values.post', 'config_update')]


def versions(fleet):
    return {phone.name: phone.version for phone in fleet.phones}


def kill(proc, sig):
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def test_outdated_phones_are_upgraded_and_proven_by_their_version(sim_fleet, fw_server, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        dict(GXP, count=3, name='gxp{n}'), dict(GXP, name='gxp-current', version=NEW),
        {'name': 'grp', 'model': 'GRP2614'}]})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=targets(fw_server), firmware_upgrade_batch_size=2)

    proc, output = run_playbook(run_ansible, run, '-vvvv')

    assert proc.returncode == 0, output
    assert run.outcomes() == {'gxp1': 'upgraded', 'gxp2': 'upgraded', 'gxp3': 'upgraded', 'gxp-current': 'already_current',
                              'grp': 'not_attempted'}
    assert versions(fleet) == {'gxp1': NEW, 'gxp2': NEW, 'gxp3': NEW, 'gxp-current': NEW, 'grp': '1.0.5.67'}
    phones = run.phones()
    for name in ('gxp1', 'gxp2', 'gxp3'):
        phone = phones[name]
        assert (phone['from_version'], phone['version'], phone['target_version'], phone['reason']) == (OLD, NEW, NEW, None)
        timings = phone['timings']
        assert timings['registered_after'] >= timings['version_after'] >= timings['up_after'] > timings['down_after'] > 0
        assert "P192 'fm.grandstream.com/gs' -> '%s/gxp/%s'" % (fw_server.host_path, NEW) in phone['note'], phone
    assert phones['gxp-current']['version'] == NEW and phones['gxp-current']['reason'] is None
    assert phones['grp']['reason'] == 'no_target'
    assert reboots_per_phone(fleet) == {'gxp1': 1, 'gxp2': 1, 'gxp3': 1}
    fetched = fleet.events(event='firmware_fetch')
    assert {event['phone'] for event in fetched} == {'gxp1', 'gxp2', 'gxp3'}
    assert {event['url'] for event in fetched} == {'http://%s/gxp/%s/gxp1600fw.bin' % (fw_server.host_path, NEW)}
    # The image check: one HEAD from the controller before the first reboot.
    heads = [entry for entry in fw_server.requests() if entry['method'] == 'HEAD']
    assert len(heads) == 1 and heads[0]['path'] == '/gxp/%s/gxp1600fw.bin' % NEW
    first_reboot = min(event['t'] for event in fleet.events(event='reboot'))
    assert heads[0]['t'] < first_reboot
    assert 'Firmware upgrade fw-run: 3 of 5 phones upgraded, 1 already_current, 1 not_attempted.' in output, output
    for path in list(run.report_dir.iterdir()) + list(run.state_dir.iterdir()):
        assert_no_passcode(fleet, path.read_text(), path.name)


GXP2170_NEW = '1.0.11.3'
MIXED_PHONES = [
    dict(GXP, count=2, name='gxp{n}'),
    dict(GXP, name='gxp-current', version=NEW),
    dict(GXP, name='gxp-busy', call={'line': 1, 'state': 'connected', 'ends_after': None}),
    dict(GXP, name='gxp-dead', fault='down'),
    dict(GXP, name='gxp-badpw', fault='wrong_passcode'),
    dict(GXP, name='gxp-cloud', cloud_managed=True),
    dict(GXP, name='gxp-never', fault='never_back'),
    dict(GXP, name='gxp-nomodel', model_js=False),
    {'name': 'grp-ok', 'model': 'GRP2614'},
    {'name': 'grp-corrupt', 'model': 'GRP2616'},
    {'name': 'grp-other', 'model': 'GRP2612'},
    {'name': 'gxp2170', 'model': 'GXP2170', 'version': '1.0.9.135', 'settings': {'P212': '2'}},
    {'name': 'wp', 'model': 'WP826', 'auth': 'session'},
]
MIXED_EXPECTED = {
    'gxp1': 'upgraded', 'gxp2': 'upgraded', 'gxp-current': 'already_current', 'gxp-busy': 'skipped_busy',
    'gxp-dead': 'unreachable', 'gxp-badpw': 'auth_failed', 'gxp-cloud': 'failed', 'gxp-never': 'failed',
    'gxp-nomodel': 'blocked', 'grp-ok': 'upgraded', 'grp-corrupt': 'kept_old_version', 'grp-other': 'failed',
    'gxp2170': 'upgraded', 'wp': 'not_attempted',
}
MIXED_REASONS = {
    'gxp-busy': 'busy', 'gxp-dead': 'unreachable', 'gxp-badpw': 'auth_failed', 'gxp-cloud': 'settings_not_applied',
    'gxp-never': 'never_up', 'gxp-nomodel': 'model_unknown', 'grp-corrupt': 'old_version', 'grp-other': 'other_version',
    'wp': 'no_target',
}


def mixed_targets(server, root):
    """Targets per model, each image in its own directory: a good one, a corrupt one, one of another version."""
    images = (('grp-corrupt', 'GRP2616', GRP_NEW, True), ('grp-other', 'GRP2612', '1.0.5.95', False),
              ('gxp2170', 'GXP2170', GXP2170_NEW, False))
    for directory, base, version, corrupt in images:
        (root / directory).mkdir()
        write_firmware_image(root / directory, base, version, corrupt=corrupt)
    found = targets(server)
    found.update({
        'GRP2614': {'version': GRP_NEW, 'url': 'http://%s/grp/%s' % (server.host_path, GRP_NEW)},
        'GRP2616': {'version': GRP_NEW, 'url': 'http://%s/grp-corrupt' % server.host_path},
        'GRP2612': {'version': GRP_NEW, 'url': 'http://%s/grp-other/' % server.host_path},
        'GXP2170*': {'version': GXP2170_NEW, 'url': 'http://%s/gxp2170' % server.host_path},
    })
    return found


def test_mixed_fleet_every_outcome(sim_fleet, fw_server, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': MIXED_PHONES})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=mixed_targets(fw_server, Path(fw_server.directory)),
              firmware_upgrade_batch_size=4, firmware_upgrade_max_fail_percent=100,
              firmware_upgrade_reboot_timeout=4, firmware_upgrade_upgrade_timeout=5)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0, 'problem phones fail the play, after the reports'
    report = run.report()
    assert run.outcomes(report) == MIXED_EXPECTED, output
    phones = run.phones(report)
    assert {name: phone['reason'] for name, phone in phones.items() if phone['reason']} == MIXED_REASONS
    summary = report['summary']
    assert summary['kind'] == 'firmware' and summary['total'] == len(MIXED_EXPECTED)
    assert sum(summary[outcome] for outcome in OUTCOMES) == len(MIXED_EXPECTED)
    assert (summary['upgraded'], summary['kept_old_version'], summary['blocked']) == (4, 1, 1)
    # Versions: before, after, and what the phones really run (the simulator).
    assert versions(fleet)['gxp1'] == NEW and versions(fleet)['grp-ok'] == GRP_NEW and versions(fleet)['gxp2170'] == GXP2170_NEW
    assert versions(fleet)['grp-corrupt'] == '1.0.5.67' and versions(fleet)['grp-other'] == '1.0.5.95'
    assert (phones['grp-corrupt']['from_version'], phones['grp-corrupt']['version']) == ('1.0.5.67', '1.0.5.67')
    assert (phones['gxp2170']['from_version'], phones['gxp2170']['version']) == ('1.0.9.135', GXP2170_NEW)
    # What to check for a phone that kept its old version: the image, its checksum, the server from the phone, DHCP.
    kept = phones['grp-corrupt']['error']
    assert kept.startswith('grp-corrupt (') and 'came back on its old firmware 1.0.5.67, not %s' % GRP_NEW in kept, kept
    assert 'http://%s/grp-corrupt/grp2610fw.bin' % fw_server.host_path in kept and 'checksum' in kept and 'DHCP' in kept
    assert fleet.events(phone='grp-corrupt', event='firmware_rejected')[0]['reason'] == 'bad_checksum'
    assert 'neither its old 1.0.5.67 nor the target %s' % GRP_NEW in phones['grp-other']['error']
    # A value that did not stick: the key named, never rebooted.
    cloud = phones['gxp-cloud']['error']
    assert cloud.startswith('gxp-cloud (') and 'P192' in cloud and 'kept the old value' in cloud and 'not rebooted' in cloud
    assert 'GDMS' in cloud
    assert phones['gxp-nomodel']['error'].startswith('gxp-nomodel (') and 'model' in phones['gxp-nomodel']['error']
    # The GXP2170 below 1.0.11 takes its firmware protocol in P212, the GRP the confirmation and DHCP fixes.
    assert "P212 '2' -> '1'" in phones['gxp2170']['note'] and 'P6767' not in phones['gxp2170']['note']
    assert fleet.events(phone='gxp2170', event='firmware_fetch')[0]['url'].startswith('http://')
    assert "P8375 '1' -> '0'" in phones['grp-ok']['note'] and "P145 '1' -> '0'" in phones['grp-ok']['note']
    # Reboots: each phone sent a change got exactly one; none for the others.
    assert reboots_per_phone(fleet) == {name: 1 for name in ('gxp1', 'gxp2', 'gxp-never', 'grp-ok', 'grp-corrupt',
                                                             'grp-other', 'gxp2170')}
    written = {event['phone'] for event in settings_writes(fleet)}
    assert written == {'gxp1', 'gxp2', 'gxp-cloud', 'gxp-never', 'grp-ok', 'grp-corrupt', 'grp-other', 'gxp2170'}
    # Reports: JUnit failures are the problem outcomes, the CSV has the versions.
    junit = ET.parse(run.report_dir / 'firmware_upgrade.junit.xml').getroot()
    failure_types = {case.get('name'): case.find('failure').get('type') for case in junit.iter('testcase')
                     if case.find('failure') is not None}
    assert failure_types == {name: reason for name, reason in MIXED_REASONS.items() if name not in ('gxp-busy', 'wp')}
    header = (run.report_dir / 'firmware_upgrade.csv').read_text().splitlines()[0]
    assert header.startswith('name,host,outcome,batch,down_after,up_after,version_after,registered_after') and \
        header.endswith('model,from_version,version,target_version'), header
    assert 'Problem phones:' in output and 'grp-corrupt (old_version)' in output, output
    ledger = run.ledger()
    assert ledger['gxp1']['state'] == 'upgraded' and ledger['grp-corrupt']['state'] == 'failed'
    assert ledger['gxp-cloud']['state'] == 'failed' and ledger['gxp-cloud']['sent'] is False
    assert 'gxp-dead' not in ledger and 'gxp-nomodel' not in ledger and 'wp' not in ledger


def test_stalling_settings_are_set_right_and_read_back(sim_fleet, fw_server, run_ansible, tmp_path):
    """P238 (2 and 1), P8375, P145 with a DHCP path, a file prefix: each would stall the upgrade; the rollout fixes them."""
    empty = Path(fw_server.directory) / 'dhcp-offered'
    empty.mkdir()
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        dict(GXP, name='skip-check', settings={'P238': '2'}),
        dict(GXP, name='affix-check', settings={'P238': '1'}),
        dict(GXP, name='confirm', settings={'P8375': '1'}),
        dict(GXP, name='dhcp', settings={'P145': '1'}, dhcp_firmware_path='%s/dhcp-offered' % fw_server.host_path),
        dict(GXP, name='prefix', settings={'P232': 'pre-', 'P233': '.v1'}),
    ]})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=targets(fw_server), firmware_upgrade_batch_size=5)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'upgraded'} and set(versions(fleet).values()) == {NEW}
    assert reboots_per_phone(fleet) == {phone.name: 1 for phone in fleet.phones}, 'one reboot each: no second try'
    phones = run.phones()
    assert "P238 '2' -> '0'" in phones['skip-check']['note'] and "P238 '1' -> '0'" in phones['affix-check']['note']
    assert "P8375 '1' -> '0'" in phones['confirm']['note'] and "P145 '1' -> '0'" in phones['dhcp']['note']
    assert "P232 'pre-' -> ''" in phones['prefix']['note'] and "P233 '.v1' -> ''" in phones['prefix']['note']
    for phone in fleet.phones:
        values = (phone.setting('P238'), phone.setting('P8375'), phone.setting('P145'), phone.setting('P232'),
                  phone.setting('P233'), phone.setting('P192'))
        assert values == ('0', '0', '0', '', '', '%s/gxp/%s' % (fw_server.host_path, NEW)), (phone.name, values)
        fetch = fleet.events(phone=phone.name, event='firmware_fetch')
        assert [event['source'] for event in fetch] == ['P192'] and fetch[0]['outcome'] == 'ok', fetch
    assert not fleet.events(event='firmware_waiting') and not fleet.events(event='firmware_skipped')


def test_stalling_settings_block_the_phone_when_the_rollout_may_not_fix_them(sim_fleet, fw_server, run_ansible, tmp_path):
    quiet = {'P145': '0'}  # every simulated phone has the DHCP override on, as real ones by default
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        dict(GXP, name='skip-check', settings=dict(quiet, P238='2')),
        dict(GXP, name='affix-check', settings=dict(quiet, P238='1')),
        dict(GXP, name='confirm', settings=dict(quiet, P8375='1')),
        dict(GXP, name='dhcp', settings={'P145': '1'}),
        dict(GXP, name='prefix', settings=dict(quiet, P232='pre-')),
        dict(GXP, name='ready', settings=quiet),
    ]})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=targets(fw_server), firmware_upgrade_fix_settings=False,
              firmware_upgrade_batch_size=6)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0, 'blocked phones are problems'
    assert run.outcomes() == {'skip-check': 'blocked', 'affix-check': 'blocked', 'confirm': 'blocked', 'dhcp': 'blocked',
                              'prefix': 'blocked', 'ready': 'upgraded'}
    phones = run.phones()
    for name, words in (('skip-check', "P238 is '2' (the phone skips the firmware check at boot)"),
                        ('affix-check', "P238 is '1' (the phone checks for firmware only when"),
                        ('confirm', "P8375 is '1' (the phone waits for a person"),
                        ('dhcp', "P145 is '1' (DHCP option 66/43 may replace"),
                        ('prefix', "P232 is 'pre-' (a file prefix")):
        assert phones[name]['reason'] == 'stalling_settings', phones[name]
        assert phones[name]['error'].startswith('%s (' % name) and words in phones[name]['error'], phones[name]['error']
        assert 'firmware_upgrade_fix_settings' in phones[name]['error']
    assert reboots_per_phone(fleet) == {'ready': 1}
    assert {event['phone'] for event in settings_writes(fleet)} == {'ready'}, 'a blocked phone gets no setting either'
    assert fleet.phone('skip-check').setting('P238') == '2' and fleet.phone('skip-check').setting('P192') == 'fm.grandstream.com/gs'


def test_a_missing_image_stops_the_run_before_anything_is_sent(sim_fleet, fw_server, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [dict(GXP, count=2, name='gxp{n}'),
                                                                {'name': 'grp', 'model': 'GRP2614'}]})
    missing = {'GXP16*': {'version': NEW, 'url': 'http://%s/nothing-here/%s' % (fw_server.host_path, NEW)},
               'GRP26*': {'version': GRP_NEW, 'url': 'http://%s/grp/%s' % (fw_server.host_path, GRP_NEW)}}
    run = Run(fleet, tmp_path, firmware_upgrade_targets=missing)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    url = 'http://%s/nothing-here/%s/gxp1600fw.bin' % (fw_server.host_path, NEW)
    assert url in output and 'HTTP 404 (not found)' in output and 'GXP1628, target GXP16*' in output, output
    assert 'Nothing was sent' in output and 'Traceback' not in output, output
    assert 'grp2610fw.bin' not in output.split('did not start')[1].split('Nothing was sent')[0], 'the GRP image is there'
    assert not fleet.events(event='command') and not settings_writes(fleet) and not fleet.events(event='reboot')
    assert not run.ledger_path().exists() or run.ledger() == {}
    assert {entry['path'] for entry in fw_server.requests()} == {'/nothing-here/%s/gxp1600fw.bin' % NEW,
                                                                 '/grp/%s/grp2610fw.bin' % GRP_NEW}


def test_check_mode_plans_and_sends_nothing(sim_fleet, fw_server, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [
        dict(GXP, count=3, name='gxp{n}'), {'name': 'wp', 'model': 'WP826', 'auth': 'session'}]})
    found = targets(fw_server)
    found['WP8*'] = {'version': '1.0.3.99', 'url': 'http://%s/wp' % fw_server.host_path}
    run = Run(fleet, tmp_path, firmware_upgrade_targets=found, firmware_upgrade_batch_size=2)

    proc, output = run_playbook(run_ansible, run, '--check')

    assert proc.returncode == 0, output
    assert 'Check mode: nothing is sent' in output and '4 to upgrade in 2 batches of up to 2' in output, output
    assert 'The firmware image name of WP826 is not documented' in output, output
    plan = json.loads((run.report_dir / 'firmware_upgrade.plan.json').read_text())
    assert not (run.report_dir / 'firmware_upgrade.json').exists(), 'check mode writes the plan, not a report'
    assert {phone['outcome'] for phone in plan['phones']} == {'not_attempted'}
    assert {phone['reason'] for phone in plan['phones']} == {'check_mode'}
    assert [phone['batch'] for phone in plan['phones']] == [1, 1, 2, 2]
    assert {phone['from_version'] for phone in plan['phones'][:3]} == {OLD}
    # Nothing sent: no setting written, no command, no reboot, no fetch; no ledger.
    assert not settings_writes(fleet) and not fleet.events(event='command') and not fleet.events(event='reboot')
    assert not fleet.events(event='firmware_fetch')
    assert set(versions(fleet).values()) == {OLD, '1.0.3.35'}
    assert not run.state_dir.exists() or not list(run.state_dir.iterdir()), 'check mode writes no ledger'


def test_a_rerun_reboots_nothing(sim_fleet, fw_server, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [dict(GXP, count=3, name='gxp{n}')]})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=targets(fw_server), firmware_upgrade_batch_size=3)
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'upgraded'}

    # The same run id: upgraded earlier in the run, not contacted at all.
    before = len(fleet.events(event='request'))
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'already_current'}
    assert len(fleet.events(event='request')) == before, 'the re-run of the run id contacted no phone'
    assert {phone['version'] for phone in run.report()['phones']} == {NEW}
    assert '3 upgraded earlier in this run' in output, output

    # A new run id: every phone is read, found current, and neither written nor rebooted.
    since = time.monotonic()
    run.set(firmware_upgrade_run_id='fw-run-2')
    proc, output = run_playbook(run_ansible, run)
    assert proc.returncode == 0, output
    assert set(run.outcomes().values()) == {'already_current'}
    assert {phone['reason'] for phone in run.report()['phones']} == {None}
    assert not settings_writes(fleet, since=since) and not fleet.events(event='reboot', since=since)
    assert reboots_per_phone(fleet) == {'gxp1': 1, 'gxp2': 1, 'gxp3': 1}
    assert '3 already current' in output and 'Firmware upgrade fw-run-2: 0 of 3 phones upgraded, 3 already_current.' in output


def test_a_failed_canary_stops_the_rollout(sim_fleet, fw_server, run_ansible, tmp_path):
    root = Path(fw_server.directory)
    (root / 'bad').mkdir()
    write_firmware_image(root / 'bad', 'gxp1600', NEW, corrupt=True)
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': [dict(GXP, count=4, name='gxp{n}')]})
    bad = {'GXP16*': {'version': NEW, 'url': 'http://%s/bad' % fw_server.host_path}}
    run = Run(fleet, tmp_path, firmware_upgrade_targets=bad, firmware_upgrade_canary=1, firmware_upgrade_batch_size=3,
              firmware_upgrade_reboot_timeout=3, firmware_upgrade_upgrade_timeout=4)

    proc, output = run_playbook(run_ansible, run)

    assert proc.returncode != 0
    assert 'canary batch did not fully succeed (gxp1 old_version)' in output, output
    assert run.outcomes() == {'gxp1': 'kept_old_version', 'gxp2': 'not_attempted', 'gxp3': 'not_attempted',
                              'gxp4': 'not_attempted'}
    assert reboots_per_phone(fleet) == {'gxp1': 1}

    # The failure is final for the run id, and keeps its outcome.
    proc, output = run_playbook(run_ansible, run, '--limit', 'gxp1')
    assert run.outcomes() == {'gxp1': 'kept_old_version'} and run.report()['phones'][0]['reason'] == 'old_version'
    assert reboots_per_phone(fleet) == {'gxp1': 1}


def wait_for_ledger(run, proc, check, timeout=60):
    """Poll the ledger until ``check(entries by name)`` is true; returns the entries."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline and proc.poll() is None, 'the ledger never reached the state awaited'
        try:
            entries = run.ledger()
        except (OSError, ValueError):
            entries = {}
        if check(entries):
            return entries
        time.sleep(0.01)


def kill_everything(run, proc):
    """A controller that dies at once (power loss, OOM): ansible-playbook and its worker (the lock's holder), SIGKILL."""
    holder = (run.state_dir / 'firmware_upgrade.lock').read_text().split()
    os.kill(int(holder[0]), signal.SIGKILL)
    kill(proc, signal.SIGKILL)


def state_of(name, state, seen_down=None):
    def check(entries):
        entry = entries.get(name) or {}
        return entry.get('state') == state and (seen_down is None or bool(entry.get('seen_down')) == seen_down)
    return check


def both(first, second):
    return lambda entries: first(entries) and second(entries)


# Per ledger state: the phones (a1 in batch 1, b1 and b2 after it), the role's timeouts, and when to kill the controller.
# The phones whose change is in flight at the kill stay dark long enough (long flash) for the re-run to find them so.
RESUME_CASES = {
    # Its settings are being written (each request 0.4 s): its reboot has not left, or leaves right before the kill.
    'sending': ([dict(GXP, name='a1', latency=0.4)], state_of('a1', 'sending')),
    # Its reboot went out and it still answers (save_delay 2 s): nobody has seen it go down.
    'sent': ([dict(GXP, name='a1', save_delay=2.0, flash_time=3.0)], state_of('a1', 'sent', seen_down=False)),
    # Seen going down; it flashes for 4 s more.
    'seen_down': ([dict(GXP, name='a1', flash_time=4.0)], state_of('a1', 'sent', seen_down=True)),
    # Upgraded and proven; b1, in the next batch, is flashing.
    'upgraded': ([dict(GXP, name='a1')], state_of('a1', 'upgraded')),
    # Kept its old version (a corrupt image): final for the run id; b1 is flashing.
    'failed': ([{'name': 'a1', 'model': 'GRP2616'}], state_of('a1', 'failed')),
}


@pytest.mark.parametrize('state', sorted(RESUME_CASES))
def test_killed_at_each_ledger_state_the_rerun_never_reboots_twice(
        sim_fleet, fw_server, run_ansible, ansible_env, tmp_path, state):
    first, killed_when = RESUME_CASES[state]
    root = Path(fw_server.directory)
    (root / 'grp-corrupt').mkdir()
    write_firmware_image(root / 'grp-corrupt', 'GRP2616', GRP_NEW, corrupt=True)
    found = targets(fw_server)
    found['GRP2616'] = {'version': GRP_NEW, 'url': 'http://%s/grp-corrupt' % fw_server.host_path}
    fleet = sim_fleet(spec={'defaults': FAST_PHONES, 'phones': first + [
        dict(GXP, name='b1', flash_time=4.0), dict(GXP, name='b2')]})
    run = Run(fleet, tmp_path, firmware_upgrade_targets=found, firmware_upgrade_batch_size=1,
              firmware_upgrade_max_fail_percent=100, firmware_upgrade_reboot_timeout=12, firmware_upgrade_upgrade_timeout=14)
    if state == 'failed':
        run.set(firmware_upgrade_upgrade_timeout=12)

    proc = run.popen(ansible_env)
    if state in ('upgraded', 'failed'):
        killed_when = both(killed_when, state_of('b1', 'sent'))  # b1, of the next batch, is in flight too
    at_kill = wait_for_ledger(run, proc, killed_when)
    kill_everything(run, proc)
    fleet.phone('a1').set_latency(0)
    rerun_started = time.monotonic()
    reboots_at_kill = reboots_per_phone(fleet)

    proc, output = run_playbook(run_ansible, run)

    reboots = reboots_per_phone(fleet)
    assert max(reboots.values()) == 1, 'a phone was rebooted twice: %s' % reboots
    assert not [event for event in fleet.events(event='reboot', since=rerun_started) if event['phone'] in at_kill], \
        'the re-run rebooted a phone the killed run had marked'
    phones = run.phones()
    a1 = phones['a1']
    if state == 'sending':
        if reboots.get('a1'):  # the kill came right after its reboot left: proven like a sent one
            assert a1['outcome'] == 'upgraded', a1
        else:  # its reboot never left: nobody can tell, so it is not rebooted, and says so
            assert (a1['outcome'], a1['reason']) == ('failed', 'unverified'), a1
            assert 'nobody saw it restart' in a1['error'] and 'new run id' in a1['error'] and OLD in a1['error'], a1
    elif state in ('sent', 'seen_down'):
        assert a1['outcome'] == 'upgraded' and a1['note'].startswith('checked after the interruption'), a1
        assert a1['version'] == NEW and fleet.phone('a1').version == NEW
    elif state == 'upgraded':
        assert a1['outcome'] == 'already_current' and 'upgraded in batch 1 of an earlier attempt' in a1['note'], a1
        assert not fleet.events(phone='a1', event='request', since=rerun_started), 'a1 was contacted again'
    else:
        assert (a1['outcome'], a1['reason']) == ('kept_old_version', 'old_version'), a1
        assert not fleet.events(phone='a1', event='request', since=rerun_started), 'a1 was contacted again'
    if state in ('upgraded', 'failed'):
        assert reboots_at_kill['b1'] == 1 and phones['b1']['outcome'] == 'upgraded', phones['b1']
        assert phones['b1']['note'].startswith('checked after the interruption'), phones['b1']
    assert phones['b2']['outcome'] == 'upgraded' and reboots['b2'] == 1
    assert run.report()['summary']['resumed'] is True
