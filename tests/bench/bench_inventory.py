"""Time `ansible-inventory --list` for 10,000 phones: the csv inventory plugin against the built-in ini plugin.

Generates, in a temporary directory, a 10,000-row CSV file with a phonefleet.grandstream.csv configuration that
groups the phones by site (keyed_groups), and an INI file with the same hosts, variables and groups. Each is loaded
with `ansible-inventory -i X --list > /dev/null`, the two alternating, several times; the best time of each and
their ratio are printed. Then one more run of each, with timers inside the process, shows where the time goes:
Ansible's imports, the inventory parse (for the csv plugin: its import, reading and checking the CSV file, hosts and
variables, keyed_groups), Ansible's per-host variables and the JSON output.

Then a file of 100,000 phones, each with its own passcode, is loaded once clean and once with 1,000 bad rows
(on_error: warn, a warning per bad row): every problem message is redacted against every passcode of the file, so
this shows whether redaction costs grow with the number of passcodes. Nothing is asserted.

    .venv/bin/python tests/bench/bench_inventory.py [--phones 10000] [--runs 5] [--no-phases]
                                                    [--bad-rows-phones 100000] [--bad-rows 1000 (0: skip)]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.path.dirname(os.path.abspath(sys.executable))
MODELS = ('GRP2612', 'GRP2613', 'GRP2614', 'GRP2615', 'GRP2616')

# Run in a child process: `ansible-inventory -i SOURCE --list` with timers around its phases, printed as
# "name seconds" lines on stderr (stdout is the inventory, thrown away).
PHASE_TIMER = r'''
import contextlib, io, sys, time
started = time.perf_counter()
from ansible.cli.inventory import InventoryCLI
from ansible.inventory.manager import InventoryManager
import ansible.plugins.inventory  # every inventory plugin needs it: not part of the csv plugin's import
seconds = {'imports': time.perf_counter() - started}


def timed(owner, name, phase):
    original = owner.__dict__[name]
    function = original.__func__ if isinstance(original, staticmethod) else original

    def timer(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start

    setattr(owner, name, staticmethod(timer) if isinstance(original, staticmethod) else timer)


def time_the_csv_plugin(parse_sources):
    def timer(self, *args, **kwargs):
        start = time.perf_counter()
        if sys.argv[1].endswith('grandstream.yml'):  # the collection loader is set up by now
            from ansible_collections.phonefleet.grandstream.plugins.inventory import csv as plugin
            seconds['csv plugin import'] = time.perf_counter() - start
            timed(plugin.InventoryModule, '_read_text', 'CSV file read')
            timed(plugin.PhoneTable, '__init__', 'CSV checked (PhoneTable)')
            timed(plugin.InventoryModule, '_populate', 'hosts and variables')
            timed(plugin.InventoryModule, '_construct', 'compose/groups/keyed_groups')
        return parse_sources(self, *args, **kwargs)
    return timer


InventoryManager.parse_sources = time_the_csv_plugin(InventoryManager.parse_sources)
timed(InventoryManager, 'parse_sources', 'inventory parse')
timed(InventoryCLI, 'json_inventory', 'host variables (VariableManager)')
timed(InventoryCLI, 'dump', 'JSON output')
with contextlib.redirect_stdout(io.StringIO()):
    try:
        InventoryCLI.cli_executor(['ansible-inventory', '-i', sys.argv[1], '--list'])
    except SystemExit:
        pass
seconds['total'] = time.perf_counter() - started
for phase, value in seconds.items():
    print('%s\t%.3f' % (phase, value), file=sys.stderr)
'''
PHASES = (
    ('imports', 'Ansible imports'),
    ('inventory parse', 'inventory parse'),
    ('csv plugin import', '  csv plugin import'),
    ('CSV file read', '  CSV file read'),
    ('CSV checked (PhoneTable)', '  CSV checked (PhoneTable)'),
    ('hosts and variables', '  hosts and variables'),
    ('compose/groups/keyed_groups', '  keyed_groups'),
    ('host variables (VariableManager)', 'per-host variables (Ansible)'),
    ('JSON output', 'JSON output'),
    ('total', 'total in the process'),
)


def phones(count):
    for number in range(1, count + 1):
        yield {
            'name': 'gs%05d' % number,
            'host': '10.%d.%d.%d' % (number // 65536, number // 256 % 256, number % 256),
            'site': 'site%02d' % (number % 40),
            'model': MODELS[number % len(MODELS)],
            'mac': '00:0b:82:%02x:%02x:%02x' % (number // 65536, number // 256 % 256, number % 256),
        }


def write_sources(directory, count):
    rows = list(phones(count))

    csv_path = os.path.join(directory, 'phones.csv')
    with open(csv_path, 'w', encoding='utf-8') as csv_file:
        csv_file.write('name,host,site,model,mac\n')
        for row in rows:
            csv_file.write('%(name)s,%(host)s,%(site)s,%(model)s,%(mac)s\n' % row)
    config_path = os.path.join(directory, 'bench.grandstream.yml')
    with open(config_path, 'w', encoding='utf-8') as config_file:
        config_file.write('plugin: phonefleet.grandstream.csv\npath: phones.csv\nkeyed_groups:\n  - key: site\n    prefix: site\n')

    ini_path = os.path.join(directory, 'phones.ini')
    sites = {}
    with open(ini_path, 'w', encoding='utf-8') as ini_file:
        ini_file.write('[grandstream]\n')
        for row in rows:
            ini_file.write('%(name)s ansible_host=%(host)s site=%(site)s model=%(model)s mac=%(mac)s ansible_connection=local\n' % row)
            sites.setdefault(row['site'], []).append(row['name'])
        for site, names in sorted(sites.items()):
            ini_file.write('\n[site_%s]\n%s\n' % (site, '\n'.join(names)))
    return config_path, ini_path


def write_bad_rows_sources(directory, count, bad):
    """A CSV file of ``count`` phones with a passcode each, ``bad`` of them (spread evenly) with a port that is not a
    number, and its configuration with on_error: warn; returns (clean config, config with bad rows)."""
    bad_every = count // bad if bad else 0
    paths = []
    for kind in ('clean', 'bad'):
        csv_path = os.path.join(directory, 'passcodes-%s.csv' % kind)
        with open(csv_path, 'w', encoding='utf-8') as csv_file:
            csv_file.write('name,host,port,passcode,site\n')
            for number, row in enumerate(phones(count), 1):
                # '#' and '&' give each passcode URL-encoded forms too; each row's passcode is different
                port = '80x' if kind == 'bad' and bad_every and number % bad_every == 0 else '80'
                csv_file.write('%s,%s,%s,pw#%07d&k,%s\n' % (row['name'], row['host'], port, number * 7919 % 10000019, row['site']))
        config_path = os.path.join(directory, 'passcodes-%s.grandstream.yml' % kind)
        with open(config_path, 'w', encoding='utf-8') as config_file:
            config_file.write('plugin: phonefleet.grandstream.csv\npath: %s\non_error: warn\n' % os.path.basename(csv_path))
        paths.append(config_path)
    return paths


def time_with_warnings(source, env):
    """Seconds of one ansible-inventory --list, and how many warnings it printed."""
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN_DIR, 'ansible-inventory'), '-i', source, '--list'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, text=True, check=True)
    return time.perf_counter() - start, proc.stderr.count('[WARNING]')


def time_once(source, env):
    start = time.perf_counter()
    subprocess.run([os.path.join(BIN_DIR, 'ansible-inventory'), '-i', source, '--list'], stdout=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def phases_of(source, env):
    """{phase: seconds} of one in-process timed run of ansible-inventory --list."""
    proc = subprocess.run([sys.executable, '-c', PHASE_TIMER, source], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env, text=True, check=True)
    seconds = {}
    for line in proc.stderr.splitlines():
        phase, dummy, value = line.rpartition('\t')
        if phase:
            seconds[phase] = float(value)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=10000)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--no-phases', dest='phases', action='store_false', help='skip the timed run that splits the time into phases')
    parser.add_argument('--bad-rows-phones', type=int, default=100000, help='phones of the file with passcodes and bad rows')
    parser.add_argument('--bad-rows', type=int, default=1000, help='bad rows in it (0 skips this part)')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix='bench-inventory-') as directory:
        namespace_dir = os.path.join(directory, 'collections', 'ansible_collections', 'phonefleet')
        os.makedirs(namespace_dir)
        os.symlink(COLLECTION_ROOT, os.path.join(namespace_dir, 'grandstream'))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(directory, 'collections'),
                   ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true', ANSIBLE_NOCOLOR='1')
        env.pop('ANSIBLE_INVENTORY_ENABLED', None)
        config_path, ini_path = write_sources(directory, args.phones)

        # alternate the two, so that a load change on the machine affects both alike
        csv_times, ini_times = [], []
        for dummy in range(args.runs):
            csv_times.append(time_once(config_path, env))
            ini_times.append(time_once(ini_path, env))
        csv_seconds, ini_seconds = min(csv_times), min(ini_times)

        print('ansible-inventory --list, %d phones, best of %d:' % (args.phones, args.runs))
        print('  phonefleet.grandstream.csv (keyed_groups on site): %.2f s' % csv_seconds)
        print('  ansible.builtin.ini (same hosts, vars and groups):  %.2f s' % ini_seconds)
        print('  csv / ini: %.2f' % (csv_seconds / ini_seconds))
        if args.phases:
            csv_phases, ini_phases = phases_of(config_path, env), phases_of(ini_path, env)
            print('where the time goes (one more run of each, timers inside ansible-inventory, seconds):')
            print('  %-32s %6s %6s' % ('', 'csv', 'ini'))
            for phase, label in PHASES:
                figures = ['%.2f' % seconds[phase] if phase in seconds else '-' for seconds in (csv_phases, ini_phases)]
                print('  %-32s %6s %6s' % (label, figures[0], figures[1]))
        if args.bad_rows:
            clean_path, bad_path = write_bad_rows_sources(directory, args.bad_rows_phones, args.bad_rows)
            clean_seconds, dummy = time_with_warnings(clean_path, env)
            bad_seconds, warnings = time_with_warnings(bad_path, env)
            print('ansible-inventory --list, %d phones with a passcode each, on_error: warn, one run each:' % args.bad_rows_phones)
            print('  clean:                 %.2f s' % clean_seconds)
            print('  with %d bad rows:    %.2f s (%d warnings)' % (args.bad_rows, bad_seconds, warnings))


if __name__ == '__main__':
    main()
