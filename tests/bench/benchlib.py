"""Shared pieces of the benchmarks: a simulated fleet in its own process, ansible runs, timing.

Benchmarks print figures; they never assert on time.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SIMULATOR = REPO / 'tests' / 'simulator' / 'phonesim'  # the package directory: python runs its __main__.py


def collections_path(workdir):
    """A collections path in which this working tree is phonefleet.grandstream."""
    root = Path(workdir) / 'collections'
    link = root / 'ansible_collections' / 'phonefleet' / 'grandstream'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    return root


def ansible_env(workdir, **extra):
    env = dict(os.environ)
    env.pop('GRANDSTREAM_PASSCODE', None)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path(workdir)), ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_HOST_KEY_CHECKING='0',
               ANSIBLE_LOCAL_TEMP=str(Path(workdir) / 'ansible-tmp'),
               # Simulated phones' refused passwords and ledgers stay in the work directory, never in the user's own
               # per-user state (module_utils/state_dir.py).
               GRANDSTREAM_STATE_DIR=str(Path(workdir) / 'state'),
               PATH='%s%s%s' % (BIN, os.pathsep, os.environ.get('PATH', '')))
    env.update({key: str(value) for key, value in extra.items()})
    return env


class SimulatedFleet:
    """The simulator (`python tests/simulator/phonesim`) in a child process (so it does not share the measuring process's GIL)."""

    def __init__(self, spec, workdir, log_events=False):
        self.workdir = Path(workdir)
        self.log_events = log_events
        self.spec_path = self.workdir / 'fleet-spec.json'
        self.spec_path.write_text(json.dumps(spec))
        self.csv = self.workdir / 'phones.csv'
        self.ini = self.workdir / 'phones.ini'
        self.events = self.workdir / 'events.jsonl'
        self.ready = self.workdir / 'ready.json'
        self.proc = None

    def __enter__(self):
        command = [sys.executable, str(SIMULATOR), '--spec', str(self.spec_path), '--csv', str(self.csv),
                   '--ini', str(self.ini), '--ready-file', str(self.ready)]
        if self.log_events:
            if self.events.exists():
                self.events.unlink()
            command += ['--events', str(self.events)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError('simulator exited: %s' % self.proc.stderr.read().decode())
            if time.monotonic() > deadline:
                raise RuntimeError('simulator did not start within 120 s')
            time.sleep(0.1)
        return self

    def read_events(self):
        """The simulator's event log (only with log_events=True)."""
        with open(self.events, encoding='utf-8') as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def __exit__(self, *exc_info):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_timed(command, env, cwd=None):
    """Run a command; returns (seconds, returncode, output, max RSS MB of children so far)."""
    start = time.monotonic()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return elapsed, proc.returncode, proc.stdout + proc.stderr, peak_mb


def workdir(prefix):
    return tempfile.mkdtemp(prefix='gs-bench-%s-' % prefix)
