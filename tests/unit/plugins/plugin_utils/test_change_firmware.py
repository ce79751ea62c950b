# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firmware upgrade as a rolling change (plugin_utils/change_firmware.py), on a fake fleet and a fake clock (the
engine's test style: no sleeping, seconds of fake time), plus its pieces: targets and what a URL becomes on the phone
(P192, P6767/P212), image names, the settings that stall an upgrade, the image check (a real HTTP server on loopback),
and the one table of options that the module, its documentation and the role agree on.

Each fake phone is a FixturePhone (tests/fixtures: the recorded answers of its model, its settings, its web login)
whose power follows a timeline on the fake clock after each REBOOT, and which takes at that reboot the image its
settings point to, as the simulator does.
"""

import datetime
import http.server
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import (
    firmware_image_name, firmware_protocol_key,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import REPORT_FORMATS
from ansible_collections.phonefleet.grandstream.plugins.modules import fleet_firmware
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_firmware import (
    FIRMWARE_REPORTS, FirmwareChange,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, run_target
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_image_check import ImageCheck, check_image
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_settings import (
    stalling_settings, stalling_text,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_targets import FirmwareTargets
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import RunRefused
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import Ledger
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone, refused
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import (
    Crash, FakeClock, make_run, outcomes, reasons,
)

OLD, NEW = '1.0.7.70', '1.0.7.81'
GRP_OLD, GRP_NEW = '1.0.5.67', '1.0.5.90'
SERVER = 'fw.example.net/gxp16xx/%s' % NEW
GRP_SERVER = 'fw.example.net/grp/%s' % GRP_NEW
TARGETS = {'GXP16*': {'version': NEW, 'url': 'https://%s' % SERVER},
           'GRP26*': {'version': GRP_NEW, 'url': 'http://%s/' % GRP_SERVER}}
# The tests' own choices (fake seconds); every other option is the module's default.
TEST_OPTIONS = {'batch_size': 3, 'max_fail_percent': 100.0, 'busy_timeout': 60.0, 'down_timeout': 20.0,
                'reboot_timeout': 60.0, 'upgrade_timeout': 90.0, 'registration_timeout': 30.0, 'poll_interval': 1.0,
                'connect_timeout': 1.0}


class UpgradingPhone(object):
    """A FixturePhone whose power follows the fake clock after each REBOOT (answering for ``save`` seconds, dark for
    ``down``, then unregistered for ``register``), and that boots into the image its settings point to.

    faults: ``keeps_old`` (the image fails its checksum: it boots its old version), ``twice`` (it comes back on its old
    version for ``between`` seconds, then goes dark again to flash and comes back on the new one), ``never_up``,
    ``unreachable``.
    """

    def __init__(self, fleet, name, index, model='GXP1628', version=OLD, faults=(), settings=None, save=0.5, down=3.5,
                 register=1.0, between=5.0, busy=False, cloud_managed=False):
        self.fleet, self.clock, self.name = fleet, fleet.clock, name
        self.host = '10.9.%d.%d' % (index // 250, index % 250 + 1)
        self.fixture = FixturePhone.of_model(model, version=version, passcode=PASSCODE, host=self.host,
                                             settings=settings, cloud_managed=cloud_managed)
        self.fixture.reboot_plan = {'save': 0, 'down': 0, 'unregistered': 0}  # the timeline below decides
        if busy:
            self.fixture.set_line(1, 'connected')
        self.faults = set(faults)
        self.save, self.down, self.register, self.between = save, down, register, between
        self.rebooted_at = None
        self.commands = []          # fake times of every REBOOT received
        self.pending_version = None
        self.second_boot_done = False

    @property
    def version(self):
        return self.fixture.version

    def power(self):
        """'save', 'down', 'unregistered' or 'up' at the current fake time."""
        if 'unreachable' in self.faults:
            return 'down'
        if self.rebooted_at is None:
            return 'up'
        since = self.clock.now - self.rebooted_at
        phases = [('save', self.save), ('down', self.down)]
        if 'twice' in self.faults:
            phases += [('old', self.between), ('down', self.down)]
        phases += [('unregistered', self.register)]
        for phase, length in phases:
            if since < length:
                return 'down' if phase == 'down' or 'never_up' in self.faults and phase != 'save' else phase
            since -= length
        return 'down' if 'never_up' in self.faults else 'up'

    def port_open(self):
        return self.power() != 'down'

    def exchange(self, method, url, timeout, verify=True, params=None, data=None, headers=None, max_body=None,
                 json_body=None):
        power = self.power()
        if power == 'down':
            raise refused()
        function = url.rsplit('/', 1)[-1]
        if power == 'unregistered' and 'twice' in self.faults and not self.second_boot_done:
            # Back from the reboot into the flashed image: the new version, and the sessions of before are gone.
            self.second_boot_done = True
            self.fixture.version = self.pending_version or self.fixture.version
            self.fixture.expire_session()
        fields = dict(params or {}, **(data if isinstance(data, dict) else {}))
        if function == 'api-sys_operation' and fields.get('request') == 'REBOOT':
            if self.fleet.before_command is not None:
                self.fleet.before_command(self)
            self._reboot()
        self.fixture.plan = [{'save': 'save', 'old': 'up', 'unregistered': 'unregistered'}.get(power, 'up')]
        extra = {'json_body': json_body} if json_body is not None else {}
        return self.fixture.exchange(method, url, timeout, verify=verify, params=params, data=data, headers=headers,
                                     **extra)

    def _reboot(self):
        self.commands.append(self.clock.now)
        self.rebooted_at = self.clock.now
        self.second_boot_done = False
        settings = self.fixture.settings
        image = self.fleet.images.get(settings.get('192'))
        stalled = settings.get('238') in ('1', '2') or settings.get('8375') == '1' or settings.get('232') or \
            settings.get('233') or (settings.get('145') == '1' and self.fleet.dhcp_path)
        self.pending_version = image if image and not stalled and 'keeps_old' not in self.faults else None
        if 'twice' not in self.faults:
            self.fixture.next_version = self.pending_version

    def close(self):
        pass

    def settings_written(self):
        return [fields for event, fields in self.fixture.events if event == 'settings' and 'written' in fields]


class FirmwareFleet(object):
    """Phones by name on one fake clock, with a firmware server (``images``: P192 path -> the version it serves)."""

    def __init__(self):
        self.clock = FakeClock(start_local=datetime.datetime(2026, 12, 3, 2, 0, 0))
        self.phones = {}
        self.images = {SERVER: NEW, GRP_SERVER: GRP_NEW}
        self.dhcp_path = None
        self.before_command = None
        self.image_checks = []
        self.missing = set()

    def add(self, name, **kwargs):
        phone = UpgradingPhone(self, name, len(self.phones), **kwargs)
        self.phones[name] = phone
        return phone

    def targets(self, names=None):
        return [FleetTarget(phone.name, CTIConnection(phone.host, passcode=PASSCODE, name=phone.name,
                                                      auth=phone.fixture.dialect), {'site': 'hq'})
                for phone in (self.phones[name] for name in (names or list(self.phones)))]

    def fan_out(self, targets, work, concurrency):
        return [run_target(target, work, transport_factory=lambda target: self.phones[target.name]) for target in targets]

    def world(self, connection):
        phone = self.phones[connection.name]
        return {'port_check': phone.port_open, 'transport': lambda: phone}

    def check_images(self, urls, timeout, validate_certs):
        self.image_checks.append(list(urls))
        return dict((url, ImageCheck(url, url not in self.missing, None if url not in self.missing else 'HTTP 404 (not found)'))
                    for url in urls)

    def commands(self):
        return dict((name, len(phone.commands)) for name, phone in self.phones.items())


def firmware_args(**options):
    args = dict((name, spec.get('default')) for name, spec in fleet_firmware.ARGUMENT_SPEC.items())
    args.update(TEST_OPTIONS, targets=TARGETS)
    args.update(options)
    return args


def firmware_run(fleet, tmp_path, run_id='r1', check_mode=False, lines=None, **options):
    args = firmware_args(**options)
    change = FirmwareChange.from_args(args, world=fleet.world, image_checker=fleet.check_images)
    engine = dict((name, args[name]) for name in ('batch_size', 'max_fail_percent', 'busy_timeout', 'poll_interval',
                                                  'connect_timeout', 'canary', 'busy_policy'))
    return make_run(fleet, tmp_path, run_id=run_id, settings=engine, check_mode=check_mode, lines=lines, change=change), change


def rows(report):
    return dict((phone['name'], phone) for phone in report['phones'])


# -- targets: what a URL becomes on the phone ------------------------------------------------------------------------


@pytest.mark.parametrize('url, scheme, protocol, path', [
    ('http://fw.example.net/gxp16xx/1.0.7.81', 'http', '1', 'fw.example.net/gxp16xx/1.0.7.81'),
    ('https://fw.example.net:8443/grandstream/1.0.7.81/', 'https', '2', 'fw.example.net:8443/grandstream/1.0.7.81'),
    ('tftp://10.1.0.5/fw', 'tftp', '0', '10.1.0.5/fw'),
    ('HTTP://FW.example.net', 'http', '1', 'FW.example.net'),
    ('http://[2001:db8::5]:8080/fw', 'http', '1', '[2001:db8::5]:8080/fw'),
])
def test_a_url_becomes_the_server_path_without_its_scheme_and_the_protocol(url, scheme, protocol, path):
    target = FirmwareTargets({'GXP16*': {'version': NEW, 'url': url}}).rules[0]
    assert (target.scheme, target.protocol, target.server_path) == (scheme, protocol, path)
    assert target.image_url('gxp1600fw.bin') == url.rstrip('/') + '/gxp1600fw.bin'


@pytest.mark.parametrize('targets, words', [
    ({'GXP16*': {'version': NEW, 'url': 'fw.example.net/x'}}, 'must start with http://, https:// or tftp://'),
    ({'GXP16*': {'version': NEW, 'url': 'ftp://fw.example.net/x'}}, 'must start with http://'),
    ({'GXP16*': {'version': NEW, 'url': 'http://admin:pw@fw.example.net/x'}}, 'carries a user name or password'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net/x?token=1'}}, 'a query or a fragment'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net/x#top'}}, 'a query or a fragment'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net/x y'}}, 'spaces or control characters'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net:99999/x'}}, 'a bad port'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net:0/x'}}, 'a bad port'),
    ({'GXP16*': {'version': NEW, 'url': 'http:///x'}}, 'has no host'),
    ({'GXP16*': {'version': NEW, 'url': 'http://fw.example.net/' + 'a' * 260}}, 'too long'),
    ({'GXP16*': {'version': 'latest', 'url': 'http://fw.example.net'}}, 'dotted version like 1.0.7.81'),
    ({'GXP16*': {'version': NEW}}, 'missing url'),
    ({'GXP16*': {'version': NEW, 'url': 'http://h', 'md5': 'x'}}, 'unknown md5'),
    ({'GXP16*': NEW}, 'must map to {version, url}'),
    ({'': {'version': NEW, 'url': 'http://h'}}, 'non-empty string'),
    ({}, 'targets must map model patterns'),
    ('GXP16*', 'targets must map model patterns'),
])
def test_a_bad_target_is_refused_with_a_sentence_naming_it(targets, words):
    with pytest.raises(ValueError) as caught:
        FirmwareTargets(targets)
    assert words in str(caught.value)


def test_the_first_matching_pattern_wins_case_insensitively():
    targets = FirmwareTargets({'gxp1628': {'version': '1.0.7.90', 'url': 'http://a/1'},
                               'GXP16*': {'version': NEW, 'url': 'http://a/2'}})
    assert targets.rule_for('GXP1628').version == '1.0.7.90' and targets.rule_for('GXP1610').version == NEW
    assert targets.rule_for('GRP2614') is None and targets.rule_for(None) is None
    rule = targets.rule_for('GXP1610')
    assert rule.reached_by('1.0.7.81') and rule.reached_by('1.0.10.1') and rule.reached_by('1.0.7.81.0')
    assert rule.reached_by('1.0.7.79') is False and rule.reached_by('garbage') is None


@pytest.mark.parametrize('model, image', [
    ('GXP1610', 'gxp1600fw.bin'), ('GXP1628', 'gxp1600fw.bin'), ('gxp1630', 'gxp1600fw.bin'),
    ('GRP2601', 'grp2600fw.bin'), ('GRP2602W', 'grp2600fw.bin'), ('GRP2604P', 'grp2600fw.bin'),
    ('GRP2612', 'grp2610fw.bin'), ('GRP2614', 'grp2610fw.bin'), ('GRP2616', 'grp2610fw.bin'),
    ('GXP2170', 'gxp2170fw.bin'), ('GXP2140', 'gxp2140fw.bin'),
    ('GRP2605', None), ('GXP2160', None), ('GXP2135', None), ('WP826', None), ('GSC3505', None), ('GXP1760', None),
    ('', None), (None, None),
])
def test_image_names_are_the_documented_ones_and_nothing_is_guessed(model, image):
    assert firmware_image_name(model) == image


@pytest.mark.parametrize('model, firmware, key', [
    ('GXP2170', '1.0.9.135', 'P212'), ('GXP2170', '1.0.11.3', 'P6767'), ('GXP2140', '1.0.10.9', 'P212'),
    ('GXP2170', None, None), ('GXP2170', 'beta', None),
    ('GRP2614', '1.0.5.67', 'P6767'), ('GXP1628', None, 'P6767'), ('WP826', '1.0.3.35', 'P6767'),
])
def test_the_protocol_key_is_p212_on_older_gxp21xx(model, firmware, key):
    assert firmware_protocol_key(model, firmware) == key


def test_the_settings_that_stall_an_upgrade_and_their_fixes():
    assert stalling_settings({'P238': '0', 'P8375': '0', 'P145': '0', 'P232': '', 'P233': None}) == []
    stalls = stalling_settings({'P238': '2', 'P8375': '1', 'P145': '1', 'P232': 'pre-', 'P233': '.bin2'})
    assert stalls.keys() == ['P238', 'P8375', 'P145', 'P232', 'P233']
    assert stalls.fixes() == {'P238': '0', 'P8375': '0', 'P145': '0', 'P232': '', 'P233': ''}
    assert stalling_settings({'P238': '1'}).fixes() == {'P238': '0'}
    assert stalling_settings({'P145': '2'}).keys() == ['P145'], 'any DHCP override but off'
    text = stalling_text(stalling_settings({'P238': '2', 'P232': 'x\x1b[2J' + 'y' * 100}))
    assert "P238 is '2' (the phone skips the firmware check at boot)" in text
    assert '\x1b' not in text and 'y' * 61 not in text, 'a value from a phone is cleaned and cut'


# -- the change on a fake fleet --------------------------------------------------------------------------------------


def test_outdated_phones_are_upgraded_and_proven_by_the_version_they_report(tmp_path):
    fleet = FirmwareFleet()
    for number in range(1, 4):
        fleet.add('gxp%d' % number)
    fleet.add('current', version=NEW)
    fleet.add('grp', model='GRP2614', version=GRP_OLD)
    lines = []
    run, change = firmware_run(fleet, tmp_path, lines=lines)

    report = run.run()

    assert outcomes(report) == {'gxp1': 'upgraded', 'gxp2': 'upgraded', 'gxp3': 'upgraded', 'current': 'already_current',
                                'grp': 'upgraded'}
    assert fleet.commands() == {'gxp1': 1, 'gxp2': 1, 'gxp3': 1, 'current': 0, 'grp': 1}
    assert dict((name, phone.version) for name, phone in fleet.phones.items()) == {
        'gxp1': NEW, 'gxp2': NEW, 'gxp3': NEW, 'current': NEW, 'grp': GRP_NEW}
    found = rows(report)
    assert (found['gxp1']['from_version'], found['gxp1']['version'], found['gxp1']['target_version']) == (OLD, NEW, NEW)
    assert found['gxp1']['model'] == 'GXP1628' and found['current']['version'] == NEW
    timings = found['gxp1']['timings']
    assert timings['registered_after'] >= timings['version_after'] >= timings['up_after'] > timings['down_after'] > 0
    # What the phone keeps: the server path without the scheme, the protocol from the scheme, the fixes.
    gxp = fleet.phones['gxp1'].fixture.settings
    assert (gxp.get('192'), gxp.get('6767'), gxp.get('145')) == (SERVER, '2', '0')
    grp = fleet.phones['grp'].fixture.settings
    assert (grp.get('192'), grp.get('6767'), grp.get('8375'), grp.get('145')) == (GRP_SERVER, '1', '0', '0')
    assert "P8375 '1' -> '0'" in found['grp']['note'] and "P6767 '2' -> '1'" in found['grp']['note']
    assert not fleet.phones['current'].settings_written(), 'a current phone gets nothing, not even a setting'
    # The images the phones fetch were checked once, before anything was sent.
    assert fleet.image_checks == [['http://%s/grp2610fw.bin' % GRP_SERVER, 'https://%s/gxp1600fw.bin' % SERVER]]
    assert lines[0].startswith('Firmware upgrade r1: 5 phones, 4 to upgrade in 2 batches of up to 3')
    assert '1 already current' in lines[0]
    assert any('on the target version' in line for line in lines[1:]), lines
    ledger = json.loads((tmp_path / 'r1.json').read_text())
    assert ledger['kind'] == 'firmware'
    entry = next(item for item in ledger['phones'].values() if item['name'] == 'gxp1')
    assert (entry['state'], entry['from_version'], entry['target_version'], entry['model']) == ('upgraded', OLD, NEW, 'GXP1628')
    assert entry['image'] == 'https://%s/gxp1600fw.bin' % SERVER
    summary = report['summary']
    assert (summary['upgraded'], summary['already_current'], summary['kind']) == (4, 1, 'firmware')

    # The same run id again: upgraded earlier in the run, already current, not contacted.
    before = dict((name, len(phone.fixture.requests)) for name, phone in fleet.phones.items())
    again, dummy = firmware_run(fleet, tmp_path)
    resumed = again.run()
    assert set(outcomes(resumed).values()) == {'already_current'}
    assert dict((name, len(phone.fixture.requests)) for name, phone in fleet.phones.items())['gxp1'] == before['gxp1']
    assert rows(resumed)['gxp1']['version'] == NEW and rows(resumed)['gxp1']['from_version'] == OLD
    assert 'upgraded in batch 1 of an earlier attempt' in rows(resumed)['gxp1']['note']


def test_a_phone_that_comes_back_on_its_old_version_is_kept_old_version_once_upgrade_timeout_passed(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('stubborn', faults=['keeps_old'])
    run, dummy = firmware_run(fleet, tmp_path, upgrade_timeout=90)

    report = run.run()

    row = rows(report)['stubborn']
    assert (row['outcome'], row['reason'], row['version'], row['from_version']) == ('kept_old_version', 'old_version', OLD, OLD)
    assert row['error'].startswith('stubborn (10.9.0.1): the phone came back on its old firmware %s, not %s' % (OLD, NEW))
    assert 'https://%s/gxp1600fw.bin' % SERVER in row['error'] and 'checksum' in row['error'] and 'DHCP' in row['error']
    assert fleet.clock.now >= 90, 'it was read until upgrade_timeout, in case a second reboot was coming'
    assert fleet.clock.now < 90 + row['timings']['up_after'], 'upgrade_timeout counts from the command, not from its return'
    assert fleet.commands() == {'stubborn': 1}
    assert report['summary']['kept_old_version'] == 1 and report['summary']['failed'] == 0
    assert row['timings']['up_after'] is not None and row['timings']['version_after'] is None


def test_a_phone_that_answers_on_its_old_version_between_two_reboots_is_upgraded(tmp_path):
    fleet = FirmwareFleet()
    phone = fleet.add('twice', faults=['twice'], between=8.0)
    run, dummy = firmware_run(fleet, tmp_path)

    report = run.run()

    row = rows(report)['twice']
    assert (row['outcome'], row['version']) == ('upgraded', NEW), row
    assert row['timings']['version_after'] > row['timings']['up_after'] + 8.0, 'proven after the second reboot only'
    assert len(phone.commands) == 1 and phone.version == NEW


def test_a_value_that_does_not_stick_fails_the_phone_with_the_key_named_and_it_is_never_rebooted(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('cloud', cloud_managed=True)
    fleet.add('fine')
    run, dummy = firmware_run(fleet, tmp_path)

    report = run.run()

    row = rows(report)['cloud']
    assert (row['outcome'], row['reason'], row['error_class']) == ('failed', 'settings_not_applied', None)
    assert row['error'].startswith('cloud (10.9.0.1): the phone answered success but kept the old value: P192 is')
    assert 'GDMS' in row['error'] and row['error'].endswith('It was not rebooted.')
    assert fleet.commands() == {'cloud': 0, 'fine': 1} and outcomes(report)['fine'] == 'upgraded'
    ledger = json.loads((tmp_path / 'r1.json').read_text())
    entry = next(item for item in ledger['phones'].values() if item['name'] == 'cloud')
    assert (entry['state'], entry['sent'], entry['reason']) == ('failed', False, 'settings_not_applied')
    # Nothing irreversible happened: a re-run of the run id tries it again (and fails again, without a reboot).
    again, dummy = firmware_run(fleet, tmp_path)
    assert rows(again.run())['cloud']['reason'] == 'settings_not_applied' and fleet.commands()['cloud'] == 0
    assert len(fleet.phones['cloud'].settings_written()) == 2


def test_stalling_settings_block_the_phone_without_fix_settings(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('confirm', model='GRP2614', version=GRP_OLD, settings={'P145': '0'})  # P8375 1 as GRP26xx ship
    fleet.add('quiet', settings={'P145': '0'})
    run, dummy = firmware_run(fleet, tmp_path, fix_settings=False)

    report = run.run()

    row = rows(report)['confirm']
    assert (row['outcome'], row['reason']) == ('blocked', 'stalling_settings')
    assert row['error'].startswith('confirm (10.9.0.1): its settings would stall the upgrade: P8375 is \'1\'')
    assert 'fix_settings' in row['error'] and 'blocked' in report['summary'] and report['summary']['blocked'] == 1
    assert not fleet.phones['confirm'].settings_written() and fleet.commands() == {'confirm': 0, 'quiet': 1}
    assert outcomes(report)['quiet'] == 'upgraded'


def test_a_phone_that_cannot_be_judged_is_blocked_or_not_attempted_never_guessed(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('nomodel').fixture.model_js = False
    fleet.add('noversion').fixture.version = 'beta-7'
    fleet.add('wp', model='WP826', version='1.0.3.35')
    run, dummy = firmware_run(fleet, tmp_path)

    report = run.run()

    assert outcomes(report) == {'nomodel': 'blocked', 'noversion': 'blocked', 'wp': 'not_attempted'}
    assert reasons(report) == {'nomodel': 'model_unknown', 'noversion': 'version_unknown', 'wp': 'no_target'}
    assert "'beta-7'" in rows(report)['noversion']['error']
    assert sum(fleet.commands().values()) == 0 and not fleet.image_checks


def test_a_missing_image_stops_the_run_before_anything_is_sent(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('gxp1')
    fleet.add('grp', model='GRP2614', version=GRP_OLD)
    fleet.missing = {'https://%s/gxp1600fw.bin' % SERVER}
    run, dummy = firmware_run(fleet, tmp_path)

    with pytest.raises(RunRefused) as caught:
        run.run()

    text = str(caught.value)
    assert 'https://%s/gxp1600fw.bin (for GXP1628, target GXP16*) answered HTTP 404 (not found)' % SERVER in text
    assert 'grp2610fw.bin' not in text
    assert sum(fleet.commands().values()) == 0
    assert not any(phone.settings_written() for phone in fleet.phones.values())
    assert not (tmp_path / 'r1.json').exists(), 'no ledger: nothing was sent'


def test_images_that_cannot_be_checked_are_warnings_never_guesses(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('wp', model='WP826', version='1.0.3.35')
    fleet.add('gxp1')
    targets = {'WP8*': {'version': '1.0.3.99', 'url': 'http://fw.example.net/wp'},
               'GXP16*': {'version': NEW, 'url': 'tftp://10.1.0.5/fw'}}
    run, change = firmware_run(fleet, tmp_path, targets=targets, check_mode=True)

    run.run()

    assert fleet.image_checks == [], 'nothing that could be checked'
    assert change.warnings == [
        'The firmware image name of WP826 is not documented, so the image at http://fw.example.net/wp could not be '
        'checked before the rollout: make sure the directory holds the image for each of these models (target WP8*).',
        'The url of target GXP16* is TFTP (tftp://10.1.0.5/fw), which the rollout cannot check: make sure the images are '
        'on the TFTP server.']


def test_check_mode_writes_no_setting_and_reboots_nothing(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('gxp1')
    fleet.add('grp', model='GRP2614', version=GRP_OLD)
    run, dummy = firmware_run(fleet, tmp_path, check_mode=True)

    report = run.run()

    assert set(outcomes(report).values()) == {'not_attempted'} and set(reasons(report).values()) == {'check_mode'}
    assert 'would be upgraded in batch 1 of 1' in rows(report)['gxp1']['note']
    assert sum(fleet.commands().values()) == 0
    assert not any(phone.settings_written() for phone in fleet.phones.values())
    assert len(fleet.image_checks) == 1, 'the images are checked in check mode too: a plan that would fail says so'
    assert not (tmp_path / 'r1.json').exists()


def test_a_run_interrupted_after_the_reboot_is_proven_by_the_version_on_resume(tmp_path):
    """Killed while the phone was dark: the re-run sends nothing and proves it by its version."""
    fleet = FirmwareFleet()
    phone = fleet.add('gxp1')

    def crash_when_down(clock):
        if phone.commands and phone.power() == 'down':
            raise Crash()
    fleet.clock.on_sleep = crash_when_down
    run, dummy = firmware_run(fleet, tmp_path)
    with pytest.raises(Crash):
        run.run()
    fleet.clock.on_sleep = None
    fleet.clock.advance(2)
    again, change = firmware_run(fleet, tmp_path)

    report = again.run()

    row = rows(report)['gxp1']
    assert (row['outcome'], row['version'], row['from_version']) == ('upgraded', NEW, OLD)
    assert row['note'].startswith('checked after the interruption: seen going down before it'), row
    assert len(phone.commands) == 1


def test_a_phone_found_on_the_target_after_an_interruption_is_proven_by_its_version(tmp_path):
    fleet = FirmwareFleet()
    phone = fleet.add('gxp1', save=3.0)

    def crash_while_it_still_answers(clock):
        if phone.commands:
            raise Crash()
    fleet.clock.on_sleep = crash_while_it_still_answers
    run, dummy = firmware_run(fleet, tmp_path)
    with pytest.raises(Crash):
        run.run()
    fleet.clock.on_sleep = None
    fleet.clock.advance(300)  # the controller came back long after the phone upgraded, unwatched

    report = firmware_run(fleet, tmp_path)[0].run()

    row = rows(report)['gxp1']
    assert row['outcome'] == 'upgraded' and row['note'].startswith('checked after the interruption: found on the target')
    assert row['timings']['down_after'] is None and row['version'] == NEW
    assert len(phone.commands) == 1


def test_a_phone_whose_reboot_may_not_have_left_is_unverified_never_rebooted(tmp_path):
    fleet = FirmwareFleet()
    phone = fleet.add('gxp1')

    def crash(upgrading):
        raise Crash()
    fleet.before_command = crash   # killed right before the REBOOT request reaches the phone: the ledger says sending
    run, dummy = firmware_run(fleet, tmp_path)
    with pytest.raises(Crash):
        run.run()
    fleet.before_command = None
    ledger = json.loads((tmp_path / 'r1.json').read_text())
    assert [entry['state'] for entry in ledger['phones'].values()] == ['sending']

    report = firmware_run(fleet, tmp_path)[0].run()

    row = rows(report)['gxp1']
    assert (row['outcome'], row['reason']) == ('failed', 'unverified'), row
    assert 'was being sent (it may have gone out)' in row['error'] and 'it runs %s, not %s' % (OLD, NEW) in row['error']
    assert phone.commands == [] and phone.version == OLD
    assert fleet.clock.now >= TEST_OPTIONS['down_timeout'], 'watched for going down until down_timeout first'


def test_outcome_words_and_the_ledger_kind():
    assert FirmwareChange.outcomes == ('upgraded', 'already_current', 'kept_old_version', 'blocked', 'skipped_busy',
                                       'failed', 'unreachable', 'auth_failed', 'not_attempted')
    assert FirmwareChange.problem_outcomes == ('failed', 'unreachable', 'auth_failed', 'kept_old_version', 'blocked')
    assert FirmwareChange.run_id_variable == 'firmware_upgrade_run_id' and FirmwareChange.ledger_kind.kind == 'firmware'
    assert FIRMWARE_REPORTS['json'][0] == 'firmware_upgrade.json' and FIRMWARE_REPORTS['csv'][0] == 'firmware_upgrade.csv'


def test_a_run_id_never_resumes_under_another_kind(tmp_path):
    fleet = FirmwareFleet()
    fleet.add('gxp1')
    firmware_run(fleet, tmp_path)[0].run()
    with pytest.raises(ValueError) as caught:
        Ledger(str(tmp_path), 'r1', RebootChange.ledger_kind)
    assert 'another kind of change (firmware), not a rolling reboot' in str(caught.value)


@pytest.mark.parametrize('options, words', [
    ({'upgrade_timeout': 30, 'reboot_timeout': 60}, 'upgrade_timeout (30 s) must be at least reboot_timeout (60 s)'),
    ({'upgrade_timeout': 0}, 'upgrade_timeout must be a positive number'),
    ({'image_check_timeout': -1}, 'image_check_timeout must be a positive number'),
    ({'targets': {'GXP16*': {'version': 'x', 'url': 'http://h'}}}, 'dotted version'),
])
def test_bad_options_are_refused_before_anything_is_sent(options, words):
    with pytest.raises(ValueError) as caught:
        FirmwareChange.from_args(firmware_args(**options))
    assert words in str(caught.value)


# -- one table of options: the module, its documentation and the role agree --------------------------------------------

ROOT = Path(fleet_firmware.__file__).resolve().parents[2]
ROLE = ROOT / 'roles' / 'firmware_upgrade'
ROLE_ONLY = {'firmware_upgrade_fail_on_problems', 'firmware_upgrade_stats_max_names'}
MODULE_ONLY = {'hosts', 'return_phones'}
ROLE_CHOICES = {'report_dir': 'firmware_upgrade_reports'}


def same(one, other):
    if one in ('', None) and other in ('', None):
        return True
    return one == other


def test_the_role_offers_every_option_of_the_module_with_the_same_default():
    defaults = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
    specs = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']
    assert set(defaults) | {'firmware_upgrade_targets'} == set(specs), 'targets has no default: it must be given'
    assert specs['firmware_upgrade_targets']['required'] is True
    for variable, spec in specs.items():
        lines = spec['description'] if isinstance(spec['description'], list) else [spec['description']]
        assert all(isinstance(line, str) for line in lines), '%s: a ": " made a line of its description a mapping' % variable
    options = dict((name[len('firmware_upgrade_'):], name) for name in specs if name not in ROLE_ONLY)
    assert set(options) == set(fleet_firmware.ARGUMENT_SPEC) - MODULE_ONLY
    for option, variable in options.items():
        if option == 'targets':
            continue
        module_default = ROLE_CHOICES.get(option, fleet_firmware.ARGUMENT_SPEC[option].get('default'))
        assert same(defaults[variable], module_default), (variable, defaults[variable], module_default)
        assert same(specs[variable].get('default'), defaults[variable]), variable
        assert specs[variable].get('choices') == fleet_firmware.ARGUMENT_SPEC[option].get('choices'), variable
    tasks = (ROLE / 'tasks' / 'main.yml').read_text()
    for option, variable in options.items():
        assert '%s: "{{ %s' % (option, variable) in tasks, 'the role passes %s' % variable


def test_the_module_documents_its_argument_spec():
    documented = yaml.safe_load(fleet_firmware.DOCUMENTATION)['options']
    assert set(documented) == set(fleet_firmware.ARGUMENT_SPEC)
    for name, spec in fleet_firmware.ARGUMENT_SPEC.items():
        assert same(documented[name].get('default'), spec.get('default')), name
        assert documented[name]['type'] == spec['type'] and documented[name].get('choices') == spec.get('choices'), name
        assert documented[name].get('required', False) == spec.get('required', False), name
    assert list(REPORT_FORMATS) == list(FIRMWARE_REPORTS)


# -- the image check, against a real HTTP server on loopback ------------------------------------------------------------


class _Images(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    files = {'/fw/gxp1600fw.bin': b'GSFW1 image', '/fw/empty.bin': b''}

    def do_HEAD(self):  # noqa: N802  pylint: disable=invalid-name
        if self.path.startswith('/nohead/'):
            self._answer(405, b'')
        elif self.path.startswith('/drip/'):
            self.wfile.write(b'HTTP/1.1 200 OK\r\n')
            for dummy in range(40):
                time.sleep(0.1)
                self.wfile.write(b'X: y\r\n')
                self.wfile.flush()
        elif self.path.startswith('/moved/'):
            self.send_response(302)
            self.send_header('Location', 'http://elsewhere.example/\x1b[2J' + 'z' * 300)
            self.send_header('Content-Length', '0')
            self.end_headers()
        else:
            self._answer(*self._file(), head=True)

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        self.server.ranges.append(self.headers.get('Range'))
        self._answer(206 if self.path.startswith('/nohead/') else 404, b'x' * 100000)

    def _file(self):
        data = self.files.get(self.path)
        return (404, b'not found') if data is None else (200, data)

    def _answer(self, status, body, head=False):
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def image_server():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Images)
    server.daemon_threads = True
    server.ranges = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_image_check_asks_head_and_never_follows_a_redirect(image_server):
    base = 'http://127.0.0.1:%d' % image_server.server_address[1]
    assert check_image(base + '/fw/gxp1600fw.bin', 5).ok
    missing = check_image(base + '/fw/grp2610fw.bin', 5)
    assert not missing.ok and missing.problem == 'HTTP 404 (not found)'
    empty = check_image(base + '/fw/empty.bin', 5)
    assert not empty.ok and empty.problem == 'HTTP 200 with an empty file'
    moved = check_image(base + '/moved/gxp1600fw.bin', 5)
    assert not moved.ok and moved.problem.startswith('HTTP 302, a redirect to http://elsewhere.example/?[2J')
    assert '\x1b' not in moved.problem and 'z' * 200 not in moved.problem


def test_a_server_that_refuses_head_gets_a_one_byte_get_and_a_capped_read(image_server):
    base = 'http://127.0.0.1:%d' % image_server.server_address[1]
    assert check_image(base + '/nohead/gxp1600fw.bin', 5).ok
    assert image_server.ranges == ['bytes=0-0']


def test_a_dripping_server_is_cut_at_the_deadline(image_server):
    base = 'http://127.0.0.1:%d' % image_server.server_address[1]
    started = time.monotonic()
    check = check_image(base + '/drip/gxp1600fw.bin', 0.5)
    assert not check.ok and check.problem == 'no complete answer within 0.5 s'
    assert time.monotonic() - started < 3.5, 'a total deadline, not one per read'


def test_a_server_that_is_not_there_is_named():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    check = check_image('http://127.0.0.1:%d/fw/gxp1600fw.bin' % port, 2)
    assert not check.ok and check.problem.startswith('the server could not be reached')
