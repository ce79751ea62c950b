"""The rolling reboot end to end: `ansible-playbook playbooks/rolling_reboot.yml` over a simulated fleet.

The simulator runs in its own process (tests/simulator/phonesim) and logs its events to a file. Every phone takes about
save_delay + down_time + register_delay seconds to reboot and register again. The run is compared with the ideal:
for each batch, the slowest phone of the batch from its `reboot` event to its `registered` event, summed over the
batches (what a perfect controller that starts the next batch the instant the last phone registers would take).
It also prints the largest number of phones rebooting at once, from the events. Runs with default forks, then
forks 1 and forks 50: the rolling reboot must not depend on forks.

Prints figures; asserts nothing.

    .venv/bin/python tests/bench/bench_rolling_reboot.py [--phones 200] [--batch-size 20] [--forks default,1,50]
"""

import argparse
import collections
import json
import os
import shutil
import time
from pathlib import Path

from benchlib import BIN, REPO, SimulatedFleet, ansible_env, run_timed, workdir


def analyse(events, since, report):
    """(ideal seconds, per-batch (slowest, span), most rebooting at once, reboots per phone, first reboot, last
    registration, HTTP requests per phone from its reboot to its registration) from the event log."""
    events = [event for event in events if event['t'] >= since]
    reboot_at, registered_at = {}, {}
    reboots = collections.Counter()
    during = collections.Counter()  # HTTP requests a phone got between its reboot command and its registration
    for event in events:
        if event['event'] == 'reboot':
            reboots[event['phone']] += 1
            reboot_at.setdefault(event['phone'], event['t'])
        elif event['event'] == 'registered' and event['phone'] in reboot_at:
            registered_at.setdefault(event['phone'], event['t'])
        elif event['event'] == 'request' and event['phone'] in reboot_at and event['phone'] not in registered_at:
            during[event['phone']] += 1
    batches = collections.defaultdict(list)
    for phone in report['phones']:
        if phone['batch'] is not None and phone['name'] in registered_at:
            batches[phone['batch']].append(phone['name'])
    per_batch = []
    for number in sorted(batches):
        names = batches[number]
        slowest = max(registered_at[name] - reboot_at[name] for name in names)
        span = max(registered_at[name] for name in names) - min(reboot_at[name] for name in names)
        per_batch.append((number, len(names), slowest, span))
    points = sorted([(reboot_at[name], 1) for name in registered_at] + [(registered_at[name], -1) for name in registered_at])
    most = current = 0
    for dummy, step in points:
        current += step
        most = max(most, current)
    first_reboot = min(reboot_at.values()) if reboot_at else None
    last_registered = max(registered_at.values()) if registered_at else None
    return (sum(slowest for dummy, dummy2, slowest, dummy3 in per_batch), per_batch, most, reboots, first_reboot,
            last_registered, during)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=20)
    parser.add_argument('--save-delay', type=float, default=0.5)
    parser.add_argument('--down-time', type=float, default=3.5)
    parser.add_argument('--register-delay', type=float, default=1.0)
    parser.add_argument('--poll-interval', type=float, default=None, help='default: the role default')
    parser.add_argument('--forks', default='default,1,50', help='comma-separated; "default" passes no -f')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()

    directory = Path(workdir('rolling-reboot'))
    spec = {'network': '127.64.0.0', 'port': 8080,
            'defaults': {'save_delay': args.save_delay, 'down_time': args.down_time, 'register_delay': args.register_delay},
            'phones': [{'count': args.phones, 'name': 'gs{n:04d}'}]}
    env = ansible_env(directory)
    print('rolling reboot: %d simulated phones, each %.1f s to reboot and register (save %.1f + down %.1f + register %.1f), '
          'batches of %d, no pause, %s' % (args.phones, args.save_delay + args.down_time + args.register_delay,
                                           args.save_delay, args.down_time, args.register_delay, args.batch_size,
                                           'poll_interval %g s' % args.poll_interval if args.poll_interval
                                           else 'default settings'), flush=True)
    with SimulatedFleet(spec, directory, log_events=True) as fleet:
        for forks in [item.strip() for item in args.forks.split(',') if item.strip()]:
            reports = directory / ('reports-forks-%s' % forks)
            variables = {
                'rolling_reboot_batch_size': args.batch_size, 'rolling_reboot_run_id': 'bench-forks-%s' % forks,
                'rolling_reboot_report_dir': str(reports),
                # Its own ledgers: never the user's per-user state directory (a second bench would find them done).
                'rolling_reboot_state_dir': str(directory / ('state-forks-%s' % forks)),
            }
            if args.poll_interval:
                variables['rolling_reboot_poll_interval'] = args.poll_interval
            vars_file = directory / ('vars-%s.json' % forks)
            vars_file.write_text(json.dumps(variables))
            command = [str(BIN / 'ansible-playbook'), '-i', str(fleet.ini), str(REPO / 'playbooks' / 'rolling_reboot.yml'),
                       '-e', '@%s' % vars_file]
            if forks != 'default':
                command += ['-f', forks]
            since = time.monotonic()
            seconds, returncode, output, peak_mb = run_timed(command, env)
            time.sleep(0.5)  # let the simulator flush its last events
            report = json.loads((reports / 'rolling_reboot.json').read_text())
            ideal, per_batch, most, reboots, first, last, during = analyse(fleet.read_events(), since, report)
            summary = report['summary']
            status = 'ok' if returncode == 0 else 'FAILED rc=%d' % returncode
            reboot_span = (last - first) if first is not None and last is not None else 0.0
            print('  forks %-7s wall %6.1f s (ansible-playbook, %.2fx ideal); first reboot to last registration %6.1f s; '
                  'ideal %6.1f s (%d batches x slowest phone); overhead %+5.1f s (%+.0f%%) between batches; rebooted %d/%d; '
                  'most rebooting at once %d; phones rebooted twice %d; %s'
                  % (forks, seconds, seconds / ideal if ideal else 0.0, reboot_span, ideal, len(per_batch), reboot_span - ideal,
                     100.0 * (reboot_span - ideal) / ideal if ideal else 0.0, summary['rebooted'], summary['total'], most,
                     sum(1 for count in reboots.values() if count > 1), status), flush=True)
            if during:
                counts = sorted(during.values())
                print('           HTTP requests per phone from its reboot command to its registration: mean %.1f, max %d '
                      '(the command, polls; port checks send none)' % (sum(counts) / len(counts), counts[-1]), flush=True)
            slowest = [slowest for dummy, dummy2, slowest, dummy3 in per_batch]
            if slowest:
                print('           slowest phone per batch: min %.2f s, max %.2f s; batch spans (first reboot to last '
                      'registration) %s' % (min(slowest), max(slowest),
                                            ' '.join('%.1f' % span for dummy, dummy2, dummy3, span in per_batch)), flush=True)
            if returncode != 0:
                print(output[-3000:])
    if args.keep:
        print('  work directory: %s' % directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    os.environ.pop('GRANDSTREAM_PASSCODE', None)
    main()
