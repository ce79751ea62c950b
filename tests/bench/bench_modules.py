"""One accounts_info task over a simulated fleet: in-process action plugin vs forced module path.

For scale, the same inventory runs one ``ansible.builtin.debug`` task first: Ansible's own cost per host
and task (a forked worker, variables, callbacks), which no action plugin can go below.

Usage: python tests/bench/bench_modules.py [--phones 1000] [--module-phones 1000] [--forks 5 50]
Prints wall times; asserts nothing.
"""

import argparse
import shutil
from pathlib import Path

from benchlib import SimulatedFleet, ansible_env, run_timed, workdir, BIN

PLAYBOOK = """
- name: One accounts_info task over every phone
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Read accounts
      phonefleet.grandstream.accounts_info:
"""

FLOOR_PLAYBOOK = """
- name: One debug task over every phone (no CTI request)
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Say nothing
      ansible.builtin.debug:
        msg: floor
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--phones', type=int, default=1000)
    parser.add_argument('--module-phones', type=int, default=None, help='phones for the module path (default: --phones)')
    parser.add_argument('--forks', type=int, nargs='+', default=[5, 50])
    args = parser.parse_args()
    module_phones = args.module_phones or args.phones

    directory = Path(workdir('modules'))
    spec = {'network': '127.61.0.0', 'port': 8080, 'phones': [{'count': args.phones, 'name': 'gs{n:05d}'}]}
    (directory / 'play.yml').write_text(PLAYBOOK)
    (directory / 'floor.yml').write_text(FLOOR_PLAYBOOK)
    print('accounts_info over %d simulated phones (one task, wall time of ansible-playbook)' % args.phones)
    with SimulatedFleet(spec, directory) as fleet:
        for forks in args.forks:
            command = [str(BIN / 'ansible-playbook'), '-i', str(fleet.ini), str(directory / 'floor.yml'), '-f', str(forks)]
            seconds, returncode = run_timed(command, ansible_env(directory))[:2]
            print('  %-12s forks=%-3d phones=%-5d %7.1f s  (%.1f ms per phone)  %s'
                  % ('debug floor', forks, args.phones, seconds, 1000.0 * seconds / args.phones,
                     'ok' if returncode == 0 else 'FAILED rc=%d' % returncode))
            for label, in_process, limit in (('in-process', 'true', args.phones), ('module path', 'false', module_phones)):
                command = [str(BIN / 'ansible-playbook'), '-i', str(fleet.ini), str(directory / 'play.yml'), '-f', str(forks),
                           '-e', 'grandstream_in_process=%s' % in_process]
                if limit < args.phones:
                    command += ['--limit', 'all[0:%d]' % (limit - 1)]
                seconds, returncode, output = run_timed(command, ansible_env(directory))[:3]
                status = 'ok' if returncode == 0 else 'FAILED rc=%d' % returncode
                print('  %-12s forks=%-3d phones=%-5d %7.1f s  (%.1f ms per phone)  %s'
                      % (label, forks, limit, seconds, 1000.0 * seconds / limit, status))
                if returncode != 0:
                    print(output[-2000:])
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    main()
