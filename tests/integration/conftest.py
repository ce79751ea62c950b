"""Integration tests: real ansible / ansible-playbook / ansible-inventory runs against the phone simulator.

Fixtures:
- ``sim_fleet``: factory for a started simulated fleet (tests/simulator/sim_fixtures.py).
- ``ansible_env``: environment in which ansible finds this working tree as phonefleet.grandstream.
- ``run_ansible``: run an ansible command line (``run_ansible('ansible-playbook', 'play.yml', '-i', inv)``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / 'tests' / 'simulator'))

from sim_fixtures import sim_fleet  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import


@pytest.fixture(scope='session', autouse=True)
def private_state_dir(tmp_path_factory):
    """The per-user state directory (module_utils/state_dir.py) of every run in this session, the tests' own
    processes included: never the real user's ledgers or remembered refusals."""
    path = tmp_path_factory.mktemp('state')
    old = os.environ.get('GRANDSTREAM_STATE_DIR')
    os.environ['GRANDSTREAM_STATE_DIR'] = str(path)
    yield path
    if old is None:
        os.environ.pop('GRANDSTREAM_STATE_DIR', None)
    else:
        os.environ['GRANDSTREAM_STATE_DIR'] = old


@pytest.fixture(scope='session')
def ansible_env(tmp_path_factory):
    root = tmp_path_factory.mktemp('collections')
    namespace = root / 'ansible_collections' / 'phonefleet'
    namespace.mkdir(parents=True)
    (namespace / 'grandstream').symlink_to(REPO)
    env = dict(os.environ)
    env.pop('GRANDSTREAM_PASSCODE', None)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(root),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_HOST_KEY_CHECKING='0',
        # The module path (delegate_to, grandstream_in_process=false) runs with the test interpreter.
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCAL_TEMP=str(root / 'tmp'),
        PATH='%s%s%s' % (BIN, os.pathsep, os.environ.get('PATH', '')),
    )
    return env


@pytest.fixture
def run_ansible(ansible_env):
    """Run an ansible CLI; returns CompletedProcess with .stdout/.stderr text and .json() for JSON stdout."""

    def run(command, *args, env=None, timeout=600, cwd=None):
        full_env = dict(ansible_env)
        full_env.update(env or {})
        proc = subprocess.run([str(BIN / command)] + [str(arg) for arg in args], env=full_env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, check=False)
        proc.json = lambda: json.loads(proc.stdout)
        return proc

    return run


@pytest.fixture
def run_adhoc(run_ansible, tmp_path_factory):
    """Run ``ansible -m MODULE`` over a host pattern; returns (proc, {host: result}).

    Results come from the built-in tree callback (one JSON file per host).
    """

    def run(inventory, pattern, module, *args, env=None):
        tree = tmp_path_factory.mktemp('tree')
        tree_env = {'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1', 'ANSIBLE_CALLBACKS_ENABLED': 'ansible.builtin.tree',
                    'ANSIBLE_CALLBACK_TREE_DIR': str(tree)}
        tree_env.update(env or {})
        proc = run_ansible('ansible', '-i', inventory, pattern, '-m', module, *args, env=tree_env)
        results = dict((path.name, json.loads(path.read_text())) for path in tree.iterdir())
        return proc, results

    return run
