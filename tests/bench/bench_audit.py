"""The registration audit at fleet scale, side by side with what users run today, in one table.

One simulator process serves every run (its own process, so it does not share the measuring process's GIL): 10,000
passcode phones and 1,000 phones of mixed dialects, each answering after --latency seconds. Every run reads its own
CSV inventory of the phones it audits:

- the naive playbook users write today: one ``ansible.builtin.uri`` task per phone (accounts only) and an assert, on
  200 phones with forks 5 and 50;
- the raw-Python floor: a thread pool with ``http.client`` making the same requests as the audit (accounts, phone
  status, model.define.js) with the same concurrency, and nothing else (no Ansible, no reports);
- ``ansible-playbook playbooks/registration_audit.yml`` with default settings (the security posture on) on 200, 1,000
  and 10,000 phones, and on 1,000 phones of mixed dialects (a third each: passcode, session, session_plain);
- the security posture's cost: the same 1,000 passcode phones (and the 1,000 of mixed dialects) audited with
  ``registration_audit_posture=false`` and with it on, alternately in the same run (the goal: at most 1.5x).

Prints wall times, peak memory (PSS of the whole ansible-playbook process tree) and the ratios; asserts nothing.

    .venv/bin/python tests/bench/bench_audit.py [--latency 0.05] [--sizes 200,1000,10000] [--naive-forks 5,50] [--runs 1]
        [--posture-phones 1000] [--posture-runs 2]
"""

import argparse
import csv
import http.client
import json
import os
import resource
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import BIN, REPO, SimulatedFleet, ansible_env, workdir

NAIVE_PLAYBOOK = """
- name: Naive registration check, one uri task per phone
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Read the accounts of the phone
      ansible.builtin.uri:
        url: "http://{{ ansible_host }}:{{ grandstream_port }}/cgi-bin/api-get_accounts?passcode={{ grandstream_passcode }}"
        return_content: true
      register: accounts
      no_log: true

    - name: Every configured account is registered
      ansible.builtin.assert:
        that: (accounts.content | from_json).body | selectattr('sip_id') | rejectattr('reg', 'equalto', 1) | list | length == 0
        quiet: true
"""
CONCURRENCY = 200  # the audit's default


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def _pss_kb(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as handle:
            for line in handle:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(command, env, output_path, interval=0.02):
    """Run a command; returns (seconds, returncode, output, peak PSS of its process tree in MB)."""
    with open(output_path, 'w') as output:
        start = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            todo, tree = [proc.pid], []
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(_children(pid))
            peak = max(peak, sum(_pss_kb(pid) for pid in tree))
            time.sleep(interval)
        elapsed = time.monotonic() - start
    return elapsed, proc.returncode, output_path.read_text(), peak / 1024.0


def raw_floor(rows, concurrency=CONCURRENCY):
    """The same requests as the audit, from a bare thread pool with http.client: (seconds, peak RSS MB of this process)."""
    def visit(row):
        conn = http.client.HTTPConnection(row['host'], int(row['port']), timeout=10)
        for path in ('/cgi-bin/api-get_accounts?passcode=%s' % row['passcode'],
                     '/cgi-bin/api-get_phone_status?passcode=%s' % row['passcode'], '/json/configs/model.define.js'):
            conn.request('GET', path)
            json.loads(conn.getresponse().read())
        conn.close()
    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(visit, rows))
    return time.monotonic() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_inventory(directory, name, header, rows):
    with open(directory / ('%s.csv' % name), 'w', newline='') as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    config = directory / ('%s.grandstream.yml' % name)
    config.write_text('plugin: phonefleet.grandstream.csv\npath: %s.csv\n' % name)
    return str(config)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--latency', type=float, default=0.05, help='seconds each simulated phone takes to answer')
    parser.add_argument('--sizes', default='200,1000,10000', help='audit sizes (passcode phones)')
    parser.add_argument('--mixed', type=int, default=1000, help='phones of mixed dialects (0: none)')
    parser.add_argument('--naive-phones', type=int, default=200)
    parser.add_argument('--naive-forks', default='5,50')
    parser.add_argument('--runs', type=int, default=1, help='runs of each audit; the best is in the table')
    parser.add_argument('--posture-phones', type=int, default=1000, help='phones of the posture on/off comparison (0: none)')
    parser.add_argument('--posture-runs', type=int, default=2, help='alternate runs of each; the best is in the table')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()
    sizes = [int(item) for item in args.sizes.split(',') if item.strip()]
    largest = max(sizes + [args.naive_phones, args.posture_phones])

    directory = Path(workdir('audit'))
    per_site = [largest // 8 + (1 if index < largest % 8 else 0) for index in range(8)]
    groups = [{'count': count, 'name': 'gs{n:05d}', 'start': 1 + sum(per_site[:index]), 'site': 'site%d' % index}
              for index, count in enumerate(per_site) if count]
    third = args.mixed // 3
    if args.mixed:
        groups += [{'count': third, 'name': 'mp{n:05d}', 'auth': 'passcode', 'site': 'mixed'},
                   {'count': third, 'name': 'ms{n:05d}', 'auth': 'session', 'model': 'WP826', 'site': 'mixed'},
                   {'count': args.mixed - 2 * third, 'name': 'mq{n:05d}', 'auth': 'session_plain', 'model': 'GXP1628',
                    'site': 'mixed'}]
    spec = {'network': '127.63.0.0', 'port': 8080, 'defaults': {'latency': args.latency}, 'phones': groups}
    env = ansible_env(directory)
    table = []

    print('registration audit at scale: phones answering in %g ms each (simulator in its own process, %d phones), '
          'CSV inventories, default settings (concurrency %d)' % (args.latency * 1000, largest + args.mixed, CONCURRENCY),
          flush=True)
    with SimulatedFleet(spec, directory) as fleet:
        with open(fleet.csv, newline='') as handle:
            reader = csv.DictReader(handle)
            header, rows = reader.fieldnames, list(reader)
        passcode_rows = [row for row in rows if row['name'].startswith('gs')]
        mixed_rows = [row for row in rows if row['name'].startswith('m')]
        (directory / 'naive.yml').write_text(NAIVE_PLAYBOOK)

        naive_inventory = write_inventory(directory, 'naive', header, passcode_rows[:args.naive_phones])
        for forks in [int(item) for item in args.naive_forks.split(',') if item.strip()]:
            seconds, returncode, output, peak = run_measured(
                [str(BIN / 'ansible-playbook'), '-i', naive_inventory, str(directory / 'naive.yml'), '-f', str(forks)],
                env, directory / ('naive-%d.txt' % forks))
            table.append(('naive uri per phone, forks %d' % forks, args.naive_phones, seconds, peak, returncode))
            print('  %s' % describe(table[-1]), flush=True)

        for size in sorted(set(sizes) | ({1000} if 1000 <= len(passcode_rows) else set())):
            floor_seconds, floor_mb = raw_floor(passcode_rows[:size])
            table.append(('raw-Python floor (threads, http.client)', size, floor_seconds, floor_mb, 0))
            print('  %s' % describe(table[-1]), flush=True)

        audits = [('audit', size, passcode_rows[:size]) for size in sizes]
        if args.mixed:
            audits.append(('audit, mixed dialects', len(mixed_rows), mixed_rows))
        for label, size, subset in audits:
            inventory = write_inventory(directory, 'audit-%s-%d' % (label.split(',')[0][:5], size), header, subset)
            best = None
            for run in range(args.runs):
                reports = directory / ('reports-%d-%d' % (size, run))
                seconds, returncode, output, peak = run_measured(
                    [str(BIN / 'ansible-playbook'), '-i', inventory, str(REPO / 'playbooks' / 'registration_audit.yml'),
                     '-e', 'registration_audit_report_dir=%s' % reports], env, directory / ('audit-%d.txt' % size))
                if returncode != 0:
                    print(output[-3000:])
                if best is None or seconds < best[2]:
                    best = ('this collection: %s' % label, size, seconds, peak, returncode)
                    report = json.loads((reports / 'registration_audit.json').read_text()) if returncode == 0 else None
            table.append(best)
            fan_out = ' (the fan-out task %.2f s, %d registered)' % (report['audit']['duration_seconds'],
                                                                     report['summary']['registered']) if report else ''
            print('  %s%s' % (describe(table[-1]), fan_out), flush=True)

        posture = []
        if args.posture_phones:
            groups = [('passcode phones', passcode_rows[:args.posture_phones])]
            if args.mixed:
                groups.append(('mixed dialects', mixed_rows))
            for label, subset in groups:
                posture.append(posture_cost(directory, env, header, label, subset, args.posture_runs))

    print_table(table)
    if posture:
        print_posture(posture)
    if args.keep:
        print('  work directory: %s' % directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


def posture_cost(directory, env, header, label, rows, runs):
    """The same phones audited with the posture off and on, alternately: the best of each (wall and fan-out seconds)."""
    inventory = write_inventory(directory, 'posture-%s' % label.split()[0], header, rows)
    best = {}
    for run in range(runs):
        for posture in (False, True):
            reports = directory / ('posture-%s-%s-%d' % (label.split()[0], posture, run))
            seconds, returncode, output, peak = run_measured(
                [str(BIN / 'ansible-playbook'), '-i', inventory, str(REPO / 'playbooks' / 'registration_audit.yml'),
                 '-e', 'registration_audit_report_dir=%s' % reports, '-e', 'registration_audit_fail_under=0',
                 '-e', 'registration_audit_posture=%s' % str(posture).lower()],
                env, directory / ('posture-%s.txt' % posture))
            if returncode != 0:
                print(output[-3000:])
                continue
            report = json.loads((reports / 'registration_audit.json').read_text())
            figures = (seconds, report['audit']['duration_seconds'], peak)
            if posture not in best or figures[0] < best[posture][0]:
                best[posture] = figures
            print('  %-46s %6d phones %8.2f s (fan-out %.2f s) posture %s' % (
                'posture cost, %s' % label, len(rows), seconds, figures[1], 'on' if posture else 'off'), flush=True)
    return label, len(rows), best.get(False), best.get(True)


def print_posture(posture):
    print('\n| security posture | phones | wall s off | wall s on | x | fan-out s off | fan-out s on | x | peak MB off / on |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for label, phones, off, on in posture:
        if not off or not on:
            print('| %s | %d | FAILED |' % (label, phones))
            continue
        print('| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f / %.0f |' % (
            label, phones, off[0], on[0], on[0] / off[0], off[1], on[1], on[1] / off[1] if off[1] else 0, off[2], on[2]))
    print('Goal: the audit with the posture costs at most 1.5x the wall time of the audit without it.')


def describe(row):
    label, phones, seconds, peak, returncode = row
    return '%-46s %6d phones %8.2f s %7.2f ms/phone %6.0f MB%s' % (label, phones, seconds, 1000.0 * seconds / phones, peak,
                                                                   '' if returncode == 0 else '  FAILED rc=%d' % returncode)


def print_table(table):
    floors = dict((phones, seconds) for label, phones, seconds, peak, rc in table if label.startswith('raw'))
    naive = [row for row in table if row[0].startswith('naive')]
    best_naive_ms = min(1000.0 * seconds / phones for label, phones, seconds, peak, rc in naive) if naive else None
    audits = dict((phones, seconds) for label, phones, seconds, peak, rc in table if label == 'this collection: audit')
    print('\n| run | phones | wall s | ms per phone | peak memory MB | x raw floor | x faster than naive (best forks) |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for label, phones, seconds, peak, returncode in table:
        per_phone = 1000.0 * seconds / phones
        floor = floors.get(phones)
        versus_floor = '%.1f' % (seconds / floor) if floor and not label.startswith('raw') else ''
        versus_naive = '%.0f' % (best_naive_ms / per_phone) if best_naive_ms and not label.startswith('naive') else ''
        print('| %s%s | %d | %.2f | %.2f | %.0f | %s | %s |' % (
            label, '' if returncode == 0 else ' (FAILED)', phones, seconds, per_phone, peak, versus_floor, versus_naive))
    if len(audits) > 1:
        smallest, largest = min(audits), max(audits)
        print('\nGrowth of the audit from %d to %d phones: %.1fx the wall time for %.0fx the phones.'
              % (smallest, largest, audits[largest] / audits[smallest], largest / float(smallest)))
    if 1000 in audits and 10000 in audits:
        print('From 1,000 to 10,000 phones: %.1fx the wall time for 10x the phones (%.2f s per 1,000 phones above 1,000).'
              % (audits[10000] / audits[1000], (audits[10000] - audits[1000]) / 9.0))


if __name__ == '__main__':
    os.environ.pop('GRANDSTREAM_PASSCODE', None)
    main()
