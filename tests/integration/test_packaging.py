"""The built collection: what the tarball holds, and that the installed copy works on its own.

``ansible-galaxy collection build`` runs on this working tree, as a release would. The tarball must hold the
collection (plugins, roles, playbooks, meta, docs, extensions, tests) and none of the developer clutter that
lives beside it (virtualenvs, build and test output, caches, CI files). galaxy.yml's ``build_ignore`` decides that.

Then the tarball is installed offline into a fresh collections path and the installed playbook audits a
simulated fleet with ANSIBLE_COLLECTIONS_PATH pointing only there: nothing of this working tree is used.

A user who cloned the repository for ``make demo`` may paste the README's quick start inside the clone: their CSV
(passcodes), inventory, ansible.cfg and reports must stay out of a tarball built there, and out of git.
"""

import fnmatch
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

import ansible
import pytest
import yaml

from readme_blocks import copy_tree, quick_start_blocks, run_script, with_csv

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Paths (relative to the collection root) that must not be in the tarball, as fnmatch patterns on the whole path
# and on every path component.
CLUTTER_COMPONENTS = ('.git', '.venv', '.venv-*', '.build', '.ansible', '.ci', '.github', '__pycache__', '.pytest_cache',
                      '.mypy_cache', '.ruff_cache', '.tox', '.cache', '.idea', '.vscode', 'demo-output', '*.pyc', '*.pyo',
                      '*.swp', '*~', '*.tar.gz', '*.log')
CLUTTER_PATHS = ('Makefile', '.gitignore', 'tests/output', 'tests/output/*', 'tests/bench', 'tests/bench/*',
                 'requirements-dev.txt', 'tests/requirements-extra.txt')
REQUIRED = ('MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'meta/runtime.yml',
            'meta/execution-environment.yml', 'plugins/inventory/csv.py', 'plugins/module_utils/cti.py',
            'playbooks/registration_audit.yml', 'playbooks/rolling_reboot.yml',
            'roles/registration_audit/tasks/main.yml', 'roles/registration_audit/meta/argument_specs.yml',
            'roles/rolling_reboot/tasks/main.yml', 'roles/rolling_reboot/meta/argument_specs.yml',
            'extensions/awx/apply.yml', 'docs/awx.md', 'docs/execution-environment.md')
MAX_TARBALL_BYTES = 2 * 1024 * 1024


def tool(name):
    path = BIN / name
    if not path.exists():
        pytest.fail('%s is not installed next to %s: run `make venv`' % (name, sys.executable))
    return str(path)


def isolated_env(tmp_path, collections_path):
    """An environment in which ansible sees only ``collections_path`` (and ansible-core's own ansible.builtin).

    Otherwise it is a user's: no ANSIBLE_* setting that changes what a run does (the quick start's test relies on
    that: its ansible.cfg must do the work), only what keeps the run away from this machine's files and networks."""
    env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
    env.pop('GRANDSTREAM_PASSCODE', None)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',  # not the collections of the "ansible" package in site-packages
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='false',
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
        ANSIBLE_HOME=str(tmp_path / 'ansible-home'),
        ANSIBLE_GALAXY_SERVER='http://127.0.0.1:9/',  # nothing may be fetched
        PATH='%s%s%s' % (BIN, os.pathsep, os.environ.get('PATH', '')),
    )
    return env


def run(args, env, cwd=None, timeout=110):
    proc = subprocess.run([str(arg) for arg in args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    proc.output = 'command: %s\nrc %s\nstdout:\n%s\nstderr:\n%s' % (
        ' '.join(str(arg) for arg in args), proc.returncode, proc.stdout[-8000:], proc.stderr[-8000:])
    return proc


def build(tree, out):
    """``ansible-galaxy collection build`` of ``tree`` into ``out``; returns the tarball's path."""
    env = isolated_env(out, out / 'none')
    proc = run([tool('ansible-galaxy'), 'collection', 'build', tree, '--output-path', out], env)
    assert proc.returncode == 0, proc.output
    galaxy = yaml.safe_load((tree / 'galaxy.yml').read_text())
    path = out / ('%s-%s-%s.tar.gz' % (galaxy['namespace'], galaxy['name'], galaxy['version']))
    assert path.is_file(), proc.output
    return path


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    return build(REPO, tmp_path_factory.mktemp('dist'))


def clutter(names):
    found = []
    for name in names:
        parts = name.split('/')
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in CLUTTER_COMPONENTS) \
                or any(fnmatch.fnmatch(name, pattern) for pattern in CLUTTER_PATHS):
            found.append(name)
    return found


def test_tarball_holds_the_collection_and_no_clutter(tarball):
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    found = clutter(names)
    tops = sorted({name.split('/')[0] for name in found})
    assert not found, ('%d clutter paths in %s (add to build_ignore in galaxy.yml: %s):\n%s'
                       % (len(found), tarball.name, ', '.join(tops), '\n'.join(found[:40])))
    missing = [path for path in REQUIRED if path not in names]
    assert not missing, 'missing from %s: %s' % (tarball.name, ', '.join(missing))
    assert not [member.name for member in members if member.issym() or member.islnk()], 'links in the tarball'
    assert tarball.stat().st_size < MAX_TARBALL_BYTES, '%s is %d bytes' % (tarball.name, tarball.stat().st_size)


def test_tarball_manifest_matches_galaxy_yml(tarball):
    galaxy = yaml.safe_load((REPO / 'galaxy.yml').read_text())
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile('MANIFEST.json'))
        files = json.load(tar.extractfile('FILES.json'))
    info = manifest['collection_info']
    assert (info['namespace'], info['name'], info['version']) == (galaxy['namespace'], galaxy['name'], galaxy['version'])
    assert info['dependencies'] == {}, 'a dependency would need Galaxy at install time'
    assert {entry['name'] for entry in files['files']} >= {'meta/runtime.yml', 'plugins/inventory/csv.py'}


def test_installed_tarball_audits_a_fleet_on_its_own(tarball, sim_fleet, tmp_path):
    collections = tmp_path / 'fresh-collections'
    env = isolated_env(tmp_path, collections)
    proc = run([tool('ansible-galaxy'), 'collection', 'install', tarball, '-p', collections], env)
    assert proc.returncode == 0, proc.output
    installed = collections / 'ansible_collections' / 'phonefleet' / 'grandstream'
    assert (installed / 'MANIFEST.json').is_file(), proc.output

    listing = run([tool('ansible-galaxy'), 'collection', 'list', '--format', 'json'], env)
    assert listing.returncode == 0, listing.output
    paths = json.loads(listing.stdout)
    fresh = str(collections / 'ansible_collections')
    assert list(paths.pop(fresh)) == ['phonefleet.grandstream']
    # Left: only ansible-core's own internal collections (ansible._protomatter in 2.19).
    core = os.path.dirname(ansible.__file__)
    assert all(path.startswith(core + os.sep) for path in paths), paths

    env['ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED'] = 'true'
    fleet = sim_fleet(count=3)
    inventory = tmp_path / 'inventory'
    inventory.mkdir()
    fleet.write_csv(inventory / 'phones.csv')
    (inventory / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    report_dir = tmp_path / 'reports'
    # -vv: every task says where it comes from ("task path: <file>:<line>").
    proc = run([tool('ansible-playbook'), '-vv', installed / 'playbooks' / 'registration_audit.yml',
                '-i', inventory / 'office.grandstream.yml', '-e', 'registration_audit_report_dir=%s' % report_dir],
               env, cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    report = json.loads((report_dir / 'registration_audit.json').read_text())
    assert report['summary']['total'] == 3
    assert report['summary']['registered'] == 3
    assert sorted(phone['name'] for phone in report['phones']) == sorted(phone.spec.name for phone in fleet.phones)
    # Every task came from the installed copy, and no file of this working tree was used. (The tools themselves run
    # from the dev venv, which may live inside the tree: their paths are not the collection's.)
    output = proc.stdout + proc.stderr
    task_files = set(re.findall(r'task path: (\S+?):\d+', output))
    assert task_files, proc.output
    role_files = [path for path in task_files if '/roles/' in path]
    assert role_files, 'no task of the role ran: %s' % sorted(task_files)
    assert all(path.startswith(str(installed) + os.sep) for path in task_files), sorted(task_files)
    venv = str(BIN.parent) + os.sep
    tree_paths = [path for path in re.findall(re.escape(str(REPO)) + r'[^\s\'":,)]*', output)
                  if not (path + os.sep).startswith(venv)]
    assert not tree_paths, 'paths of this working tree in the output: %s' % sorted(set(tree_paths))[:10]


def test_a_quick_start_inside_the_tree_stays_out_of_the_tarball_and_git(tarball, sim_fleet, tmp_path):
    tree = copy_tree(tmp_path / 'grandstream')
    before = build(tree, tmp_path / 'before')
    collections = tmp_path / 'collections'
    env = isolated_env(tmp_path, collections)
    proc = run([tool('ansible-galaxy'), 'collection', 'install', tarball, '-p', collections], env)
    assert proc.returncode == 0, proc.output

    # The README's phones block, run in the tree. The phones' own passcodes are in the CSV (the README's way for
    # GRP26xx, whose passwords differ per unit), so the CSV is a file that must not travel.
    fleet = sim_fleet(spec={'phones': [{'name': 'desk%d' % n, 'site': 'hq', 'passcode': 'qs-%s' % secrets.token_hex(8)}
                                       for n in (1, 2)]})
    fleet.write_csv(tmp_path / 'phones.csv')
    passcodes = [fleet.inventory_passcode(phone) for phone in fleet.phones]
    block = with_csv(quick_start_blocks()['phones'], (tmp_path / 'phones.csv').read_text())
    proc = run_script(block, tree, env, tmp_path / 'scripts', stdin='not-used-the-csv-has-passcodes\n')
    assert proc.returncode == 0, proc.output
    for path in ('phones/office.csv', 'inventory/office.grandstream.yml', 'ansible.cfg',
                 'reports/registration_audit.json', 'reports/rolling_reboot.json'):
        assert (tree / path).is_file(), 'the quick start did not write %s:\n%s' % (path, proc.output)

    after = build(tree, tmp_path / 'after')
    with tarfile.open(before) as tar:
        names_before = set(tar.getnames())
    with tarfile.open(after) as tar:
        names_after = set(tar.getnames())
        contents = [(member.name, tar.extractfile(member).read()) for member in tar.getmembers() if member.isfile()]
    added = sorted(names_after - names_before)
    assert not added, 'the quick start put these into the tarball (build_ignore in galaxy.yml): %s' % added
    assert names_after == names_before, sorted(names_before - names_after)
    leaked = sorted(name for name, data in contents for passcode in passcodes if passcode.encode() in data)
    assert not leaked, 'a passcode of the quick start is in the tarball: %s' % leaked

    # git (and ansible-test, which lists files through git) does not see them either.
    subprocess.run(['git', 'init', '-q'], cwd=tree, check=True)
    listing = subprocess.run(['git', 'ls-files', '--others', '--exclude-standard'], cwd=tree, capture_output=True,
                             text=True, check=True).stdout.split()
    seen = [name for name in listing if name.split('/')[0] in ('phones', 'inventory', 'reports', 'ansible.cfg')]
    assert not seen, 'not ignored by .gitignore: %s' % seen
