"""Integration tests: real ansible / ansible-playbook / ansible-inventory runs against the phone simulator.

Fixtures:
- ``sim_fleet``: factory for a started simulated fleet (tests/simulator/sim_fixtures.py).
- ``ansible_env``: environment in which ansible finds this working tree as phonefleet.grandstream.
- ``run_ansible``: run an ansible command line (``run_ansible('ansible-playbook', 'play.yml', '-i', inv)``).
"""

import fcntl
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
from readme_blocks import clone_line, copy_tree, only_line, replace_line, run_script, shell_blocks  # noqa: E402


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


@pytest.fixture(scope='session')
def readme_first_block(tmp_path_factory):
    """The README's first block, pasted into an empty directory: the clone, then ``make demo``, for real; run once for
    this test and test_demo.py (the demo takes half a minute).  Returns ``(process, clone)``.

    ``make demo`` on a fresh clone first creates ``.venv`` (pip installs the pinned tools: a minute or two and a package
    index). Here the clone's ``.venv`` is a symlink to the venv this suite runs in, which ``make venv`` built from the
    same requirements-dev.txt and lock; the copy keeps the files' times, so make finds ``.venv/.installed`` up to date
    and goes straight to the demo (the test refuses to run otherwise rather than let make reinstall into the shared
    venv). What a fresh venv proves, the CI's fresh clone proves on every ``make test``: it starts with ``make venv``.
    ``make test`` is this suite itself: its dry run (``make -n test``) must list every check instead.

    With parallel workers (``make integration`` runs pytest-xdist) the two tests may run in two workers: the first to
    come runs the block, the other waits for it and reads its result (the demo listens on fixed addresses, and once is
    enough).
    """
    worker = os.environ.get('PYTEST_XDIST_WORKER')
    if not worker:
        return _run_first_block(tmp_path_factory.mktemp('first-block'))
    shared = tmp_path_factory.getbasetemp().parent  # the run's directory, above every worker's own
    with open(shared / 'first-block.lock', 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / 'first-block.json'
        if done.exists():
            saved = json.loads(done.read_text(encoding='utf-8'))
            proc = subprocess.CompletedProcess(saved['args'], saved['returncode'], saved['stdout'], saved['stderr'])
            proc.output = saved['output']
            return proc, Path(saved['clone'])
        proc, clone = _run_first_block(shared / 'first-block')
        done.write_text(json.dumps({'args': proc.args, 'returncode': proc.returncode, 'stdout': proc.stdout,
                                    'stderr': proc.stderr, 'output': proc.output, 'clone': str(clone)}), encoding='utf-8')
        return proc, clone


def _run_first_block(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    first = shell_blocks()
    assert first, 'README.md has no ```sh block before its first ## heading'
    block = first[0]
    line, directory = clone_line(block)
    only_line(block, r'^make demo$')
    only_line(block, r'^make test$')
    clone = copy_tree(tmp_path / directory)
    (clone / '.venv').symlink_to(REPO / '.venv', target_is_directory=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('ANSIBLE_', 'MAKE', 'MFLAGS', 'VIRTUAL_ENV', 'PYTEST', 'GRANDSTREAM_'))}
    fresh = subprocess.run(['make', '-q', '.venv/.installed'], cwd=clone, env=env, capture_output=True, check=False)
    if fresh.returncode != 0:
        pytest.fail('.venv is older than requirements-dev.txt / requirements-dev.lock: run `make venv` first')

    script = replace_line(replace_line(block, '^git clone ', ['cd %s' % directory]), '^make test$', ['make -n test'])
    proc = run_script(script, tmp_path, env, tmp_path / 'scripts', timeout=600)
    return proc, clone
