"""The rolling firmware upgrade end to end: `ansible-playbook playbooks/firmware_upgrade.yml` over a simulated fleet of
GXP1628 on 1.0.7.70 (CVE-2026-2329) and a firmware server with the 1.0.7.81 image.

The simulator runs in its own process (tests/simulator/phonesim) and logs its events to a file; the firmware server
(phonesim.firmware_server) runs in this one. Every phone takes save_delay + down_time, then the fetch, flash_time and
down_time again (the reboot into the new image), then register_delay, from its REBOOT to its registration on the new
version. The run is compared with the ideal: for each batch, the slowest phone of the batch from its `reboot` event to
its `registered` event after its `firmware_upgraded` event, summed over the batches (what a perfect controller that
starts the next batch the instant the last phone of a batch registers on its new firmware would take). The wall time is
the whole ansible-playbook run (start-up, preflight, image check, settings written and read back, reports included).

Prints figures; asserts nothing.

    .venv/bin/python tests/bench/bench_firmware.py [--phones 200] [--batch-size 20]
"""

import argparse
import collections
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchlib import BIN, REPO, SimulatedFleet, ansible_env, run_timed, workdir

sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

from phonesim.firmware import write_firmware_image  # noqa: E402  pylint: disable=wrong-import-position
from phonesim.firmware_server import FirmwareServer  # noqa: E402  pylint: disable=wrong-import-position

OLD, NEW = '1.0.7.70', '1.0.7.81'


def analyse(events, since, report):
    """(ideal seconds, per batch (phones, slowest, span), upgrades per phone, reboots per phone, HTTP requests per phone
    from its reboot command to its registration on the new version)."""
    events = [event for event in events if event['t'] >= since]
    reboot_at, upgraded_at, registered_at = {}, {}, {}
    reboots, upgrades, during = collections.Counter(), collections.Counter(), collections.Counter()
    for event in events:
        phone = event['phone']
        if event['event'] == 'reboot':
            reboots[phone] += 1
            reboot_at.setdefault(phone, event['t'])
        elif event['event'] == 'firmware_upgraded':
            upgrades[phone] += 1
            upgraded_at.setdefault(phone, event['t'])
        elif event['event'] == 'registered' and phone in upgraded_at:
            registered_at.setdefault(phone, event['t'])
        elif event['event'] == 'request' and phone in reboot_at and phone not in registered_at:
            during[phone] += 1
    batches = collections.defaultdict(list)
    for phone in report['phones']:
        if phone['batch'] is not None and phone['name'] in registered_at:
            batches[phone['batch']].append(phone['name'])
    per_batch = []
    for number in sorted(batches):
        names = batches[number]
        slowest = max(registered_at[name] - reboot_at[name] for name in names)
        span = max(registered_at[name] for name in names) - min(reboot_at[name] for name in names)
        per_batch.append((len(names), slowest, span))
    return sum(slowest for dummy, slowest, dummy2 in per_batch), per_batch, upgrades, reboots, during


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=20)
    parser.add_argument('--save-delay', type=float, default=0.5)
    parser.add_argument('--down-time', type=float, default=3.5)
    parser.add_argument('--flash-time', type=float, default=1.0)
    parser.add_argument('--register-delay', type=float, default=1.0)
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()

    directory = Path(workdir('firmware'))
    images = directory / 'fw' / NEW
    images.mkdir(parents=True)
    write_firmware_image(images, 'gxp1600', NEW)
    spec = {'network': '127.65.0.0', 'port': 8080,
            'defaults': {'save_delay': args.save_delay, 'down_time': args.down_time, 'flash_time': args.flash_time,
                         'register_delay': args.register_delay, 'model': 'GXP1628', 'auth': 'session_plain',
                         'version': OLD},
            'phones': [{'count': args.phones, 'name': 'gxp{n:04d}'}]}
    per_phone = args.save_delay + 2 * args.down_time + args.flash_time + args.register_delay
    print('firmware upgrade: %d simulated GXP1628 from %s to %s, each about %.1f s from its reboot to its registration on '
          'the new version (save %.1f + down %.1f + flash %.1f + down %.1f + register %.1f), batches of %d, no pause, '
          'default settings' % (args.phones, OLD, NEW, per_phone, args.save_delay, args.down_time, args.flash_time,
                                args.down_time, args.register_delay, args.batch_size), flush=True)
    with FirmwareServer(directory / 'fw') as server, SimulatedFleet(spec, directory, log_events=True) as fleet:
        reports = directory / 'reports'
        variables = {
            'firmware_upgrade_targets': {'GXP16*': {'version': NEW, 'url': 'http://%s/%s' % (server.host_path, NEW)}},
            'firmware_upgrade_batch_size': args.batch_size, 'firmware_upgrade_run_id': 'bench',
            'firmware_upgrade_report_dir': str(reports),
            # Its own ledgers: never the user's per-user state directory.
            'firmware_upgrade_state_dir': str(directory / 'state'),
        }
        vars_file = directory / 'vars.json'
        vars_file.write_text(json.dumps(variables))
        command = [str(BIN / 'ansible-playbook'), '-i', str(fleet.ini), str(REPO / 'playbooks' / 'firmware_upgrade.yml'),
                   '-e', '@%s' % vars_file]
        since = time.monotonic()
        seconds, returncode, output, dummy = run_timed(command, ansible_env(directory))
        time.sleep(0.5)  # let the simulator flush its last events
        report = json.loads((reports / 'firmware_upgrade.json').read_text())
        ideal, per_batch, upgrades, reboots, during = analyse(fleet.read_events(), since, report)
        summary = report['summary']
        fetches = [entry for entry in server.requests() if entry['method'] == 'GET']
        print('  wall %6.1f s (ansible-playbook); ideal %6.1f s (%d batches x the slowest phone from its reboot to its '
              'registration on %s); wall / ideal %.3f; overhead %+5.1f s; upgraded %d/%d; phones rebooted twice %d; '
              'images fetched %d; %s'
              % (seconds, ideal, len(per_batch), NEW, seconds / ideal if ideal else 0.0, seconds - ideal,
                 summary['upgraded'], summary['total'], sum(1 for count in reboots.values() if count > 1), len(fetches),
                 'ok' if returncode == 0 else 'FAILED rc=%d' % returncode), flush=True)
        if during:
            counts = sorted(during.values())
            print('  HTTP requests per phone from its reboot command to its registration on the new version: mean %.1f, '
                  'max %d (the command, version reads, polls; port checks send none)'
                  % (sum(counts) / len(counts), counts[-1]), flush=True)
        if per_batch:
            slowest = [item for dummy, item, dummy2 in per_batch]
            print('  slowest phone per batch: min %.2f s, max %.2f s; batch spans %s'
                  % (min(slowest), max(slowest), ' '.join('%.1f' % span for dummy, dummy2, span in per_batch)), flush=True)
        if returncode != 0:
            print(output[-3000:])
    if args.keep:
        print('  work directory: %s' % directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    os.environ.pop('GRANDSTREAM_PASSCODE', None)
    main()
