"""Settings at fleet scale: fleet_config of one setting, and a configuration backup, on 1,000 phones, each beside a raw
threaded Python client making the same requests in the same run.

One simulator process (its own process, so it does not share the measuring process's GIL) serves 1,000 GRP2614 phones
(JSON settings form, web login with the sha256 nonce) that each answer after --latency seconds. Measured:

- ``fleet_config`` (a playbook of one task, run_once, concurrency 200, report written) setting P30, alternating between
  two values so that every run writes: ansible-playbook's wall time, and the task's own time (its report);
- the raw floor for it: a thread pool of 200 with ``http.client``, per phone access + dologin, config_get, PUT
  config_update, config_get (the read back), dologout, nothing else (no model probe, no report);
- ``playbooks/config_backup.yml`` into an empty directory (1,000 files written) and again (nothing changed: nothing
  rewritten);
- the raw floor for it: per phone access + dologin, download_cfg (these phones answer 404, as the backup finds out),
  metaconfig_get, config_get of the catalogue's keys in batches of 50, dologout, and the file written through a
  temporary file, fsync and a rename.

The simulated phones know ~30 keys each; a real GRP26xx or WP8xx has an alias catalogue of ~2,600. So the script also
measures, in process (the unit tests' fixture phone, no network), the CPU time of reading the whole configuration of a
phone with a 2,600-entry catalogue, and how much of it is the cleaning of the phone's text.

Prints the figures and the ratios (goal: at most 2x the raw floor); asserts nothing.

    .venv/bin/python tests/bench/bench_config.py [--phones 1000] [--latency 0.05] [--runs 2]
"""

import argparse
import csv
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from benchlib import BIN, REPO, SimulatedFleet, ansible_env, run_timed, workdir

CONCURRENCY = 200
SECRETS = frozenset(['2', '196', '34', '406', '506', '606', '1706', '1806', '1361', '6769', '1359', '4505', '4512',
                     '21900', '21902'])
CONFIG_PLAYBOOK = """
- name: One setting on every phone
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Set the NTP server of every phone, every write read back
      phonefleet.grandstream.fleet_config:
        settings:
          P30: "{{ ntp_server }}"
        update_secrets: never
        report_dir: "{{ report_dir }}"
        return_phones: false
      run_once: true
"""


def sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class RawPhone(object):
    """The web session of one phone over one kept-alive http.client connection."""

    def __init__(self, row):
        self.origin = 'http://%s:%s' % (row['host'], row['port'])
        self.conn = http.client.HTTPConnection(row['host'], int(row['port']), timeout=10)
        self.passcode = row['passcode']
        self.sid = None

    def request(self, method, path, body=None, content_type=None, missing_ok=False):
        """The JSON answer; None for an HTTP 404 when ``missing_ok``."""
        headers = {'Origin': self.origin, 'Referer': self.origin + '/'}
        if self.sid:
            headers['Cookie'] = 'sid=%s' % self.sid
        if body is not None:
            headers['Content-Type'] = content_type
            headers['Content-Length'] = str(len(body))
        self.conn.request(method, path, body=body, headers=headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if missing_ok and answer.status == 404:
            return None
        if answer.status != 200:
            raise RuntimeError('%s %s: HTTP %d' % (method, path, answer.status))
        return json.loads(data)

    def form(self, path, **fields):
        return self.request('POST', path, urlencode(fields).encode(), 'application/x-www-form-urlencoded')

    def login(self):
        nonce = self.form('/cgi-bin/access', access=sha256('admin'))['body']
        self.sid = self.form('/cgi-bin/dologin', username='admin', password=sha256(self.passcode + nonce))['body']['sid']

    def read(self, numbers):
        answer = self.request('GET', '/cgi-bin/config_get?pvalues=%s&sid=%s' % (','.join(numbers), self.sid))
        return dict((item['pvalue'], item['value']) for item in answer['configs'] if item['alias'] or item['value'])

    def logout(self):
        self.form('/cgi-bin/dologout', sid=self.sid)
        self.conn.close()


def raw_config(rows, value):
    def visit(row):
        phone = RawPhone(row)
        phone.login()
        if phone.read(['30']).get('30') != value:
            body = json.dumps({'alias': {}, 'pvalue': {'30': value}}).encode()
            phone.request('PUT', '/cgi-bin/config_update?sid=%s' % phone.sid, body, 'application/json')
            if phone.read(['30']).get('30') != value:
                raise RuntimeError('%s did not keep P30' % row['name'])
        phone.logout()
    return timed_pool(visit, rows)


def raw_backup(rows, directory):
    directory.mkdir(parents=True, exist_ok=True)

    def visit(row):
        phone = RawPhone(row)
        phone.login()
        # The backup asks every phone for its own file first (cti-api.md section 7: unknown on phones); these answer 404.
        if phone.request('GET', '/cgi-bin/download_cfg?sid=%s' % phone.sid, missing_ok=True) is not None:
            raise RuntimeError('%s offers download_cfg: the floor below reads the catalogue instead' % row['name'])
        catalogue = phone.request('GET', '/cgi-bin/metaconfig_get?sid=%s' % phone.sid)
        numbers = sorted(set(item['pvalue'] for item in catalogue) - SECRETS, key=int)
        values = {}
        for start in range(0, len(numbers), 50):
            values.update(phone.read(numbers[start:start + 50]))
        phone.logout()
        text = ''.join('P%s=%s\n' % (number, values[number]) for number in sorted(values, key=int))
        handle, temporary = tempfile.mkstemp(prefix='.%s.txt.' % row['name'], suffix='.tmp', dir=str(directory))
        with os.fdopen(handle, 'w') as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, str(directory / ('%s.txt' % row['name'])))
        descriptor = os.open(str(directory), os.O_RDONLY)
        os.fsync(descriptor)
        os.close(descriptor)
    return timed_pool(visit, rows)


def timed_pool(visit, rows):
    start = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(visit, rows))
    return time.monotonic() - start


def catalogue_cpu(directory, entries=2600, phones=5):
    """(CPU ms per phone of a whole-configuration read with an ``entries`` catalogue, of which the text cleaning)."""
    import cProfile
    import pstats
    import sys
    from benchlib import collections_path
    sys.path.insert(0, str(collections_path(directory)))
    from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient
    from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings_backup import read_whole
    from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone
    catalogue = json.dumps([{'pvalue': str(number), 'alias': 'section%d.group.setting%d' % (number % 40, number)}
                            for number in range(1, entries + 1)])
    phone = FixturePhone('GRP2614_1.0.5.67')
    for number in range(1, entries + 1):
        if not phone.settings.known(str(number)):
            phone.settings.set(str(number), 'value-%d.example.net' % number)

    def read_all():
        for dummy in range(phones):
            phone.script('metaconfig_get', (200, 'application/json', catalogue))
            with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
                read_whole(client)

    started = time.process_time()
    read_all()
    total = (time.process_time() - started) * 1000.0 / phones
    # The share of the cleaning, from a profiled run (the profiler slows every call alike).
    profile = cProfile.Profile()
    profile.runcall(read_all)
    stats = pstats.Stats(profile)
    cleaning = sum(figures[3] for (path, dummy, function), figures in stats.stats.items()
                   if path.endswith('phone_text.py') and function == 'tree')
    return total, total * cleaning / stats.total_tt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=1000)
    parser.add_argument('--latency', type=float, default=0.05, help='seconds each simulated phone takes to answer')
    parser.add_argument('--runs', type=int, default=2, help='runs of each measurement; the best is in the table')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()

    directory = Path(workdir('config'))
    spec = {'network': '127.64.0.0', 'port': 8080, 'defaults': {'latency': args.latency, 'model': 'GRP2614'},
            'phones': [{'count': args.phones, 'name': 'gs{n:05d}'}]}
    # The refused-password memory of these runs lives in the work directory, never in the user's state directory.
    env = ansible_env(directory, GRANDSTREAM_STATE_DIR=directory / 'state')
    (directory / 'config.yml').write_text(CONFIG_PLAYBOOK)
    table = []
    print('settings at scale: %d GRP2614 phones answering in %g ms each (simulator in its own process), concurrency %d'
          % (args.phones, args.latency * 1000, CONCURRENCY), flush=True)
    with SimulatedFleet(spec, directory) as fleet:
        inventory = directory / 'phones.grandstream.yml'
        inventory.write_text('plugin: phonefleet.grandstream.csv\npath: %s\n' % fleet.csv)
        with open(fleet.csv, newline='') as handle:
            rows = list(csv.DictReader(handle))

        best = {}
        for run in range(args.runs):
            value = 'ntp%d.example.net' % run
            report_dir = directory / ('config-report-%d' % run)
            seconds, returncode, output, peak = run_timed(
                [str(BIN / 'ansible-playbook'), '-i', str(inventory), str(directory / 'config.yml'),
                 '-e', 'ntp_server=%s' % value, '-e', 'report_dir=%s' % report_dir], env)
            if returncode != 0:
                print(output[-3000:])
            report = json.loads((report_dir / 'fleet_config.json').read_text())
            task = report['audit']['duration_seconds']
            changed = report['summary']['changed']
            raw = raw_config(rows, 'raw%d.example.net' % run)
            keep(best, 'config', (seconds, task, raw, changed, returncode))

            backup = directory / ('backup-%d' % run)
            timings = []
            for attempt in ('first', 'again'):
                seconds, returncode, output, peak = run_timed(
                    [str(BIN / 'ansible-playbook'), '-i', str(inventory), str(REPO / 'playbooks' / 'config_backup.yml'),
                     '-e', 'config_backup_dir=%s' % backup], env)
                if returncode != 0:
                    print(output[-3000:])
                report = json.loads((backup / 'config_backup.json').read_text())
                timings.append((seconds, report['audit']['duration_seconds'], report['summary']['saved'], returncode))
            raw = raw_backup(rows, directory / ('raw-backup-%d' % run))
            keep(best, 'backup', (timings[0][0], timings[0][1], raw, timings[0][2], timings[0][3]))
            keep(best, 'backup again', (timings[1][0], timings[1][1], raw, timings[1][2], timings[1][3]))
            print('  run %d: fleet_config %.2f s (task %.2f s, raw %.2f s); backup %.2f s (task %.2f s), again %.2f s '
                  '(task %.2f s), raw %.2f s' % (run + 1, best['config'][0], best['config'][1], best['config'][2],
                                                 timings[0][0], timings[0][1], timings[1][0], timings[1][1], raw), flush=True)

    print('\n| run | phones | ansible-playbook s | the task s | raw floor s | playbook x raw | task x raw | phones changed/saved |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    labels = {'config': 'fleet_config, one setting (written and read back)',
              'backup': 'config_backup playbook, first backup (1 file per phone written)',
              'backup again': 'config_backup playbook, nothing changed (nothing rewritten)'}
    for key in ('config', 'backup', 'backup again'):
        seconds, task, raw, count, returncode = best[key]
        print('| %s%s | %d | %.2f | %.2f | %.2f | %.1f | %.1f | %d |' % (
            labels[key], '' if returncode == 0 else ' (FAILED)', args.phones, seconds, task, raw, seconds / raw, task / raw,
            count))
    total, cleaning = catalogue_cpu(directory)
    print('\nA whole-configuration read of a phone with a 2,600-entry catalogue (in process, fixture phone): '
          '%.0f ms CPU per phone (the fixture phone\'s own answers included), of which about %.0f ms cleaning the phone\'s '
          'text (phone_text.TextCleaner.tree); 1,000 such phones: about %.0f s of CPU in one Python process.'
          % (total, cleaning, total))
    if args.keep:
        print('  work directory: %s' % directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


def keep(best, key, figures):
    """Keep the run with the shortest playbook time (and the best raw floor seen)."""
    old = best.get(key)
    if old is None:
        best[key] = figures
        return
    raw = min(old[2], figures[2])
    chosen = figures if figures[0] < old[0] else old
    best[key] = (chosen[0], chosen[1], raw, chosen[3], chosen[4])


if __name__ == '__main__':
    os.environ.pop('GRANDSTREAM_PASSCODE', None)
    main()
