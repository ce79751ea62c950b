"""`make demo`: a simulated fleet of 50 phones, a registration audit, then a rolling reboot, with the phones' own
event pushes received by the Event-Driven Ansible source of the collection; then a firmware rollout that upgrades the
phones the audit found outdated (from a firmware server of the simulator package), and the audit again.

No phone is needed: the simulator listens on 127.88.0.x only. Reports land in demo-output/
(or the directory given as the first argument). Exits non-zero when a playbook did not finish as the
demo expects, so a broken demo does not go unnoticed (tests/integration/test_demo.py runs it).
"""

import asyncio
import collections
import json
import os
import runpy
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'bench'))
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

from benchlib import SimulatedFleet, ansible_env, BIN  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware import write_firmware_image  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware_server import FirmwareServer  # noqa: E402  pylint: disable=wrong-import-position

OUTPUT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else REPO / 'demo-output'

# 44 healthy phones in two sites, and the problems a real fleet has. The branch mixes dialects: WP826 handsets and
# GXP1628 desk phones log in to the web interface (one WP826 still has its factory password), and the two GXP1628 run
# firmware below 1.0.7.81 (CVE-2026-2329). The reception's call ends 20 s after the fleet starts: after the preflight,
# before branch-ceo's busy_timeout, so it is rebooted in the last batch.
FLEET = {
    'network': '127.88.0.0',
    'port': 8080,
    'defaults': {'save_delay': 0.3, 'down_time': 2.0, 'register_delay': 1.0},
    'phones': [
        {'count': 30, 'name': 'hq-{n:03d}', 'site': 'hq', 'model': 'GRP2614'},
        {'count': 9, 'name': 'branch-{n:03d}', 'site': 'branch', 'model': 'GRP2616', 'firmware': 'new'},
        {'name': 'branch-wp01', 'site': 'branch', 'model': 'WP826', 'auth': 'session', 'version': '1.0.3.35',
         'default_password': True},
        {'count': 2, 'name': 'branch-wp{n:02d}', 'start': 2, 'site': 'branch', 'model': 'WP826', 'auth': 'session',
         'version': '1.0.3.35'},
        {'count': 2, 'name': 'branch-gxp{n:02d}', 'site': 'branch', 'model': 'GXP1628', 'auth': 'session_plain',
         'version': '1.0.7.70'},
        {'name': 'hq-lobby', 'site': 'hq', 'model': 'GRP2612', 'fault': 'unregistered'},
        {'name': 'hq-kitchen', 'site': 'hq', 'model': 'GRP2612', 'fault': 'unregistered'},
        {'name': 'hq-reception', 'site': 'hq', 'model': 'GRP2614',
         'call': {'line': 1, 'state': 'connected', 'remotenumber': '5551234', 'ends_after': 20}},
        {'name': 'branch-ceo', 'site': 'branch', 'model': 'GRP2616',
         'call': {'line': 1, 'state': 'connected', 'remotenumber': '5559876', 'ends_after': None}},
        {'name': 'branch-storage', 'site': 'branch', 'model': 'GRP2612', 'fault': 'down'},
        {'name': 'hq-training', 'site': 'hq', 'model': 'GRP2612', 'fault': 'wrong_passcode'},
    ],
}

# The collection's Event-Driven Ansible source listens here; every simulated phone pushes its events to it by HTTP GET
# from its own address, as real phones do with their Action URL settings.
EDA_ADDRESS = '127.88.255.1'
EDA_TOKEN = 'demo-token-of-the-simulated-fleet'  # 16 characters or more: no warning
EDA_EVENTS = ('reboot', 'setup_completed', 'registered', 'unregistered')


def free_port(address):
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


class EventSource(object):
    """extensions/eda/plugins/event_source/action_url.py on an asyncio loop in a thread, as ansible-rulebook runs it:
    its main() is a task that is cancelled to stop it, and the loop is closed only when every task has ended (a
    task left pending, or a CancelledError let out of the thread, would print a traceback as the demo ends)."""

    def __init__(self, port, inventory):
        self.port = port
        self.args = {'host': EDA_ADDRESS, 'port': port, 'allowed_networks': ['127.88.0.0/16'], 'token': EDA_TOKEN,
                     'inventory': str(inventory)}
        self.events = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.source_task = self.collector = None

    async def _collect(self, queue):
        while True:
            self.events.append(await queue.get())

    def _run(self):
        asyncio.set_event_loop(self.loop)
        (outcome,) = self.loop.run_until_complete(asyncio.gather(self.source_task, return_exceptions=True))
        if not isinstance(outcome, asyncio.CancelledError) and isinstance(outcome, BaseException):
            print('The event source stopped: %s' % outcome, file=sys.stderr, flush=True)
        self.collector.cancel()
        self.loop.run_until_complete(asyncio.gather(self.collector, return_exceptions=True))
        self.loop.close()

    def __enter__(self):
        main = runpy.run_path(str(REPO / 'extensions' / 'eda' / 'plugins' / 'event_source' / 'action_url.py'))['main']
        queue = asyncio.Queue()
        self.source_task = self.loop.create_task(main(queue, self.args))
        self.collector = self.loop.create_task(self._collect(queue))
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.loop.call_soon_threadsafe(self.source_task.cancel)
        self.thread.join(10)


# The firmware the audit asks for: the GRP phones speak the passcode dialect, which reports no firmware (no rule here).
FIRMWARE_MINIMUM = {'GXP16*': '1.0.7.81', 'WP8*': '1.0.3.35'}

# The firmware rollout: the GXP16xx get 1.0.7.81 (CVE-2026-2329) from a firmware server on loopback, one directory per
# release as on a real one (gxp1600fw.bin is the image of every GXP16xx); no other model has a target.
FIRMWARE_SERVER_ADDRESS = '127.88.255.2'
FIRMWARE_RELEASE = '1.0.7.81'

INVENTORY = """---
plugin: phonefleet.grandstream.csv
path: phones.csv
keyed_groups:
  - key: site
    prefix: site
"""


def run(title, playbook, *extra):
    print('\n==> %s' % title, flush=True)
    command = [str(BIN / 'ansible-playbook'), '-i', str(OUTPUT / 'inventory' / 'demo.grandstream.yml'),
               str(REPO / 'playbooks' / playbook)] + list(extra)
    started = time.monotonic()
    # An inventory that does not parse is an error here, not a warning and a play over no hosts.
    code = os.spawnve(os.P_WAIT, command[0], command, ansible_env(OUTPUT / 'work', ANSIBLE_INVENTORY_UNPARSED_FAILED='true'))
    print('--> %s finished in %.1f s (exit code %d)' % (playbook, time.monotonic() - started, code), flush=True)
    return code


def shown(path):
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def print_problems(title, phones, key):
    """The problem phones of a report, one line each, with the reason the report gives."""
    print(title)
    for phone in phones:
        reason = phone.get('error') or phone.get('note') or ''
        print('  %-16s %-14s %s' % (phone['name'], phone[key], reason))


def print_summary():
    audit = json.loads((OUTPUT / 'audit' / 'registration_audit.json').read_text())
    reboot = json.loads((OUTPUT / 'reboot' / 'rolling_reboot.json').read_text())
    summary = audit['summary']
    print('\n==> What happened')
    print('Audit: %d of %d phones registered (%s%% compliant).' % (summary['registered'], summary['total'],
                                                                   summary['compliance_percent']))
    print_problems('Phones the audit flagged:', [phone for phone in audit['phones'] if phone['status'] != 'registered'],
                   'status')
    print('Firmware (minimums %s): %d below the minimum, %d unknown, %d with the factory password.' % (
        ', '.join('%s %s' % item for item in audit['audit']['firmware_minimum'].items()), summary['firmware_outdated'],
        summary['firmware_unknown'], summary['default_password']))
    for phone in audit['phones']:
        if phone['firmware_status'] == 'outdated' or phone['default_password']:
            print('  %-16s %-14s %s' % (phone['name'], phone['model'], phone['firmware_reason'] or 'factory password still set'))
    summary = reboot['summary']
    counts = ', '.join('%d %s' % (summary[outcome], outcome) for outcome in
                       ('rebooted', 'skipped_busy', 'failed', 'unreachable', 'auth_failed', 'not_attempted')
                       if summary[outcome])
    print('Rolling reboot: %s, in %d batches, %.0f s.' % (counts, summary['batches_run'], summary['duration_seconds']))
    print_problems('Phones the rolling reboot did not reboot:',
                   [phone for phone in reboot['phones'] if phone['outcome'] != 'rebooted'], 'outcome')


def print_posture():
    """The security posture the audit read in the same visit: per check, how many phones fail it, and which."""
    audit = json.loads((OUTPUT / 'audit' / 'registration_audit.json').read_text())
    posture = audit['summary'].get('posture') or {}
    if not posture:
        return
    print('\n==> Security posture (read in the same visit; docs/posture.md)')
    for check, counts in posture.items():
        failing = [phone['name'] for phone in audit['phones']
                   if ((phone.get('posture') or {}).get(check) or {}).get('result') == 'fail']
        names = ', '.join(failing[:5]) + (', ...' if len(failing) > 5 else '')
        shown = ': %s' % names if names else ''
        print('  %-18s %3d fail, %3d pass, %3d unknown%s' % (check, counts['fail'], counts['pass'], counts['unknown'], shown))


def print_firmware(before, after):
    """The firmware story: what the audit found, what the rollout did, what the audit finds now."""
    rollout = json.loads((OUTPUT / 'firmware' / 'firmware_upgrade.json').read_text())
    summary = rollout['summary']
    print('\n==> Firmware')
    print('Before: the audit found %d phones below the minimum firmware.' % before['summary']['firmware_outdated'])
    counts = ', '.join('%d %s' % (summary[outcome], outcome) for outcome in
                       ('upgraded', 'already_current', 'kept_old_version', 'blocked', 'failed', 'unreachable',
                        'auth_failed', 'not_attempted') if summary[outcome])
    print('Firmware upgrade (GXP16* to %s): %s (not_attempted: no target for their model), in %d batch%s, %.0f s.'
          % (FIRMWARE_RELEASE, counts, summary['batches_run'], '' if summary['batches_run'] == 1 else 'es',
             summary['duration_seconds']))
    for phone in rollout['phones']:
        if phone['outcome'] == 'upgraded':
            print('  %-16s %-14s %s -> %s, proven by the version it reports after its reboot' % (
                phone['name'], phone['model'], phone['from_version'], phone['version']))
    outdated = [phone['name'] for phone in after['phones'] if phone['firmware_status'] == 'outdated']
    print('After: the audit finds %d phones below the minimum firmware%s.' % (
        after['summary']['firmware_outdated'], ' (%s)' % ', '.join(outdated) if outdated else ''))


def firmware_failures(before, after):
    """Why the firmware part did not go as the demo expects, or None."""
    rollout = json.loads((OUTPUT / 'firmware' / 'firmware_upgrade.json').read_text())
    outdated = sorted(phone['name'] for phone in before['phones'] if phone['firmware_status'] == 'outdated')
    upgraded = sorted(phone['name'] for phone in rollout['phones'] if phone['outcome'] == 'upgraded')
    if not outdated or upgraded != outdated or after['summary']['firmware_outdated']:
        return ('the audit found %s outdated, the rollout upgraded %s, the audit after it finds %d outdated'
                % (outdated or 'none', upgraded or 'none', after['summary']['firmware_outdated']))
    return None


def print_events(events):
    kinds = collections.Counter(event['grandstream']['event'] for event in events)
    phones = len(set(event['meta']['hosts'] for event in events))
    print('Event-Driven Ansible: the action_url source received %d events pushed by %d phones (%s); each names its '
          'phone by its inventory name, as ansible-rulebook would see it (extensions/eda/rulebooks/phone_events.yml '
          'audits a phone that reports unregistered).'
          % (len(events), phones, ', '.join('%d %s' % (count, kind) for kind, count in sorted(kinds.items()))))


def print_reports():
    print('\nReports:')
    for path in (sorted(OUTPUT.glob('audit/*')) + sorted(OUTPUT.glob('reboot/*')) + sorted(OUTPUT.glob('firmware/*'))
                 + sorted(OUTPUT.glob('audit-after-upgrade/*.json'))):
        if path.is_file():
            print('  %s' % shown(path))
    print('\nOpen %s in a browser for the audit page.' % (OUTPUT / 'audit' / 'registration_audit.html'))


def main():
    shutil.rmtree(OUTPUT, ignore_errors=True)
    (OUTPUT / 'inventory').mkdir(parents=True)
    (OUTPUT / 'work').mkdir()
    print('Starting a simulated fleet of %d phones on 127.88.0.x (loopback only)...'
          % sum(item.get('count', 1) for item in FLEET['phones']), flush=True)
    port = free_port(EDA_ADDRESS)
    url = 'http://%s:%d/grandstream/%%s?token=%s&mac=$mac&ip=$phone_ip' % (EDA_ADDRESS, port, EDA_TOKEN)
    FLEET['defaults']['action_urls'] = dict((event, url % event) for event in EDA_EVENTS)
    images = OUTPUT / 'work' / 'firmware-server' / 'grandstream' / FIRMWARE_RELEASE
    images.mkdir(parents=True)
    write_firmware_image(images, 'gxp1600', FIRMWARE_RELEASE)
    with SimulatedFleet(FLEET, OUTPUT / 'work') as fleet, EventSource(port, fleet.csv) as source, \
            FirmwareServer(OUTPUT / 'work' / 'firmware-server', host=FIRMWARE_SERVER_ADDRESS) as firmware_server:
        shutil.copy(fleet.csv, OUTPUT / 'inventory' / 'phones.csv')
        (OUTPUT / 'inventory' / 'demo.grandstream.yml').write_text(INVENTORY)
        # fail_under=0 and fail_on_problems=false: the demo fleet has problems on purpose. In cron or AWX keep the
        # defaults, so that a non-compliant fleet or a phone that did not reboot fails the job.
        audit = run('Registration audit (reports in %s)' % shown(OUTPUT / 'audit'), 'registration_audit.yml',
                    '-e', 'registration_audit_report_dir=%s' % (OUTPUT / 'audit'), '-e', 'registration_audit_fail_under=0',
                    '-e', json.dumps({'registration_audit_firmware_minimum': FIRMWARE_MINIMUM}))
        reboot = run('Rolling reboot, batches of 10 after a canary of 2, simulated 3-second reboots (reports in %s)'
                     % shown(OUTPUT / 'reboot'), 'rolling_reboot.yml',
                     '-e', json.dumps({
                         'rolling_reboot_report_dir': str(OUTPUT / 'reboot'),
                         'rolling_reboot_state_dir': str(OUTPUT / 'reboot' / 'state'),
                         'rolling_reboot_run_id': 'demo',
                         'rolling_reboot_batch_size': 10,
                         'rolling_reboot_canary': 2,
                         'rolling_reboot_busy_policy': 'wait',
                         'rolling_reboot_busy_timeout': 20,
                         'rolling_reboot_poll_interval': 0.5,
                         'rolling_reboot_down_timeout': 15,
                         'rolling_reboot_reboot_timeout': 30,
                         'rolling_reboot_registration_timeout': 15,
                         'rolling_reboot_max_fail_percent': 50,
                         'rolling_reboot_fail_on_problems': False,
                     }))
        time.sleep(1.0)  # the last pushes of the last batch
        events = list(source.events)
        # fail_on_problems=false: the demo fleet has unreachable phones and a wrong password on purpose.
        firmware = run('Firmware upgrade of the phones the audit found outdated: GXP16* to %s from a firmware server on '
                       '%s (reports in %s)' % (FIRMWARE_RELEASE, firmware_server.host_path, shown(OUTPUT / 'firmware')),
                       'firmware_upgrade.yml', '-e', json.dumps({
                           'firmware_upgrade_targets': {'GXP16*': {
                               'version': FIRMWARE_RELEASE,
                               'url': 'http://%s/grandstream/%s' % (firmware_server.host_path, FIRMWARE_RELEASE)}},
                           'firmware_upgrade_report_dir': str(OUTPUT / 'firmware'),
                           'firmware_upgrade_state_dir': str(OUTPUT / 'firmware' / 'state'),
                           'firmware_upgrade_run_id': 'demo-firmware',
                           'firmware_upgrade_batch_size': 10,
                           'firmware_upgrade_poll_interval': 0.5,
                           'firmware_upgrade_down_timeout': 15,
                           'firmware_upgrade_reboot_timeout': 30,
                           'firmware_upgrade_upgrade_timeout': 40,
                           'firmware_upgrade_registration_timeout': 15,
                           'firmware_upgrade_fail_on_problems': False,
                       }))
        after = run('Registration audit after the upgrade (reports in %s)' % shown(OUTPUT / 'audit-after-upgrade'),
                    'registration_audit.yml', '-e', 'registration_audit_report_dir=%s' % (OUTPUT / 'audit-after-upgrade'),
                    '-e', 'registration_audit_fail_under=0', '-e',
                    json.dumps({'registration_audit_firmware_minimum': FIRMWARE_MINIMUM}))
    print('\nThe simulated fleet is stopped.')
    missing = [shown(path) for path in (OUTPUT / 'audit' / 'registration_audit.json', OUTPUT / 'reboot' / 'rolling_reboot.json',
                                        OUTPUT / 'firmware' / 'firmware_upgrade.json',
                                        OUTPUT / 'audit-after-upgrade' / 'registration_audit.json')
               if not path.is_file()]
    if audit or reboot or firmware or after or missing:
        sys.exit('The demo did not run as expected (audit exit code %d, rolling reboot exit code %d, firmware upgrade exit '
                 'code %d, audit after the upgrade exit code %d%s): see the output above.'
                 % (audit, reboot, firmware, after, ', no %s' % ' or '.join(missing) if missing else ''))
    before_report = json.loads((OUTPUT / 'audit' / 'registration_audit.json').read_text())
    after_report = json.loads((OUTPUT / 'audit-after-upgrade' / 'registration_audit.json').read_text())
    problem = firmware_failures(before_report, after_report)
    if problem:
        sys.exit('The demo did not run as expected: %s. See the output above.' % problem)
    print_summary()
    print_posture()
    print_events(events)
    print_firmware(before_report, after_report)
    print_reports()


if __name__ == '__main__':
    main()
