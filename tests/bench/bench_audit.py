"""The registration audit end to end: `ansible-playbook playbooks/registration_audit.yml` over a simulated fleet.

The simulator runs in its own process (phonesim.py), every phone answers after --latency seconds, and the
inventory is the CSV inventory plugin. For comparison, the same run measures what users do today: a naive
playbook with one `ansible.builtin.uri` task per phone (accounts only), on --naive-phones of the phones.

Prints wall times and the peak memory of each ansible-playbook process tree; asserts nothing.

    .venv/bin/python tests/bench/bench_audit.py [--phones 1000] [--latency 0.05] [--naive-phones 200] [--naive-forks 50] [--runs 1]
"""

import argparse
import json
import os
import shutil
import subprocess
import time
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


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def _memory_kb(pid):
    """(rss, pss) of one process in kB; pss counts pages shared between ansible's forks once."""
    rss = pss = 0
    try:
        with open('/proc/%d/smaps_rollup' % pid) as handle:
            for line in handle:
                if line.startswith('Rss:'):
                    rss = int(line.split()[1])
                elif line.startswith('Pss:'):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_measured(command, env, output_path, cwd=None, interval=0.02):
    """Run a command; returns (seconds, returncode, output, peak tree PSS MB, peak tree RSS MB, peak single RSS MB)."""
    with open(output_path, 'w') as output:
        start = time.monotonic()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        peak_pss = peak_rss = peak_single = 0
        while proc.poll() is None:
            todo, tree = [proc.pid], []
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(_children(pid))
            sizes = [_memory_kb(pid) for pid in tree]
            peak_rss = max(peak_rss, sum(rss for rss, dummy in sizes))
            peak_pss = max(peak_pss, sum(pss for dummy, pss in sizes))
            peak_single = max([peak_single] + [rss for rss, dummy in sizes])
            time.sleep(interval)
        elapsed = time.monotonic() - start
    return elapsed, proc.returncode, output_path.read_text(), peak_pss / 1024.0, peak_rss / 1024.0, peak_single / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=1000)
    parser.add_argument('--latency', type=float, default=0.05, help='seconds each simulated phone takes to answer')
    parser.add_argument('--naive-phones', type=int, default=200)
    parser.add_argument('--naive-forks', type=int, default=50)
    parser.add_argument('--runs', type=int, default=1, help='audit runs (the best is printed with the others)')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()

    directory = Path(workdir('audit'))
    # 8 sites, so that the per-site part of the HTML report has work to do
    per_site = [args.phones // 8 + (1 if index < args.phones % 8 else 0) for index in range(8)]
    spec = {'network': '127.63.0.0', 'port': 8080, 'defaults': {'latency': args.latency},
            'phones': [{'count': count, 'name': 'gs{n:05d}', 'start': 1 + sum(per_site[:index]), 'site': 'site%d' % index}
                       for index, count in enumerate(per_site) if count]}
    (directory / 'phones.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    (directory / 'naive.yml').write_text(NAIVE_PLAYBOOK)
    reports = directory / 'reports'
    env = ansible_env(directory)
    inventory = str(directory / 'phones.grandstream.yml')

    print('registration audit: %d simulated phones answering in %g ms each (simulator in its own process), CSV inventory'
          % (args.phones, args.latency * 1000), flush=True)
    with SimulatedFleet(spec, directory):
        audit = [str(BIN / 'ansible-playbook'), '-i', inventory, str(REPO / 'playbooks' / 'registration_audit.yml'),
                 '-e', 'registration_audit_report_dir=%s' % reports]
        for run in range(1, args.runs + 1):
            seconds, returncode, output, pss, rss, single = run_measured(audit, env, directory / ('audit-%d.txt' % run))
            status = 'ok' if returncode == 0 else 'FAILED rc=%d' % returncode
            print('  audit run %d: %6.2f s wall  peak memory of the ansible-playbook tree: %.0f MB PSS (%.0f MB RSS summed, '
                  'largest process %.0f MB)  %s' % (run, seconds, pss, rss, single, status), flush=True)
            if returncode != 0:
                print(output[-3000:])
        summary_path = reports / 'registration_audit.json'
        if summary_path.exists():
            report = json.loads(summary_path.read_text())
            summary = report['summary']
            print('  audit result: %d phones, %d registered, compliance %s%%; the fan-out task itself took %.2f s (last run)'
                  % (summary['total'], summary['registered'], summary['compliance_percent'], report['audit']['duration_seconds']))
            sizes = ', '.join('%s %.0f kB' % (path.name, path.stat().st_size / 1024.0) for path in sorted(reports.iterdir()))
            print('  reports: %s' % sizes)

        naive = [str(BIN / 'ansible-playbook'), '-i', inventory, str(directory / 'naive.yml'), '-f', str(args.naive_forks),
                 '--limit', 'grandstream[0:%d]' % (args.naive_phones - 1)]
        seconds, returncode, output, pss, rss, single = run_measured(naive, env, directory / 'naive.txt')
        status = 'ok' if returncode == 0 else 'FAILED rc=%d' % returncode
        print('  naive playbook (ansible.builtin.uri per phone + assert, forks %d) on %d phones: %6.2f s wall '
              '(%.0f ms per phone; x%d phones = %.0f s)  peak memory %.0f MB PSS  %s'
              % (args.naive_forks, args.naive_phones, seconds, 1000.0 * seconds / args.naive_phones,
                 args.phones, seconds * args.phones / args.naive_phones, pss, status), flush=True)
        if returncode != 0:
            print(output[-3000:])
    if args.keep:
        print('  work directory: %s' % directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    os.environ.pop('GRANDSTREAM_PASSCODE', None)
    main()
