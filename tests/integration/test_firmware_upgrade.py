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
    fetched = [event for event in fleet.events(event='firmware_fetch')]
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
