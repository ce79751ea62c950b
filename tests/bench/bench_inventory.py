"""Time `ansible-inventory --list` for 10,000 phones: the csv inventory plugin against the built-in ini plugin.

Generates, in a temporary directory, a 10,000-row CSV file with a phonefleet.grandstream.csv configuration that
groups the phones by site (keyed_groups), and an INI file with the same hosts, variables and groups. Each is loaded
three times with `ansible-inventory -i X --list > /dev/null`; the best time of each is printed. Nothing is asserted.

    .venv/bin/python tests/bench/bench_inventory.py [--phones 10000] [--runs 3]
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


def time_once(source, env):
    start = time.perf_counter()
    subprocess.run([os.path.join(BIN_DIR, 'ansible-inventory'), '-i', source, '--list'], stdout=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--phones', type=int, default=10000)
    parser.add_argument('--runs', type=int, default=3)
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


if __name__ == '__main__':
    main()
