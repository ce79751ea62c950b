"""The dev venv is what requirements-dev.lock says, and its tools run without noise.

A package that is not pinned takes whatever upstream released last, so a fresh machine can turn red on a day
nothing here changed (cryptography 51 made every ansible command print a deprecation warning with the venv's path).
"""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Installed by `python -m venv` itself, not by the requirements.
VENV_BOOTSTRAP = {'pip', 'setuptools', 'wheel'}


def canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def lock_pins():
    pins = {}
    for number, line in enumerate((REPO / 'requirements-dev.lock').read_text().splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        match = re.match(r'^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$', line)
        assert match, 'requirements-dev.lock:%d is not name==version: %r' % (number, line)
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def test_every_installed_package_is_pinned_at_its_version():
    pins = lock_pins()
    installed = {canonical(dist.metadata['Name']): dist.version for dist in metadata.distributions()}
    unpinned = sorted(name for name in installed if name not in pins and name not in VENV_BOOTSTRAP)
    assert not unpinned, 'installed but not in requirements-dev.lock (run make lock): %s' % ', '.join(unpinned)
    differ = sorted('%s %s (lock %s)' % (name, installed[name], pins[name])
                    for name in installed if name in pins and installed[name] != pins[name])
    assert not differ, 'installed at another version than requirements-dev.lock pins: %s' % ', '.join(differ)


def test_every_requirement_is_in_the_lock():
    pins = lock_pins()
    for number, line in enumerate((REPO / 'requirements-dev.txt').read_text().splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        name = canonical(re.split(r'[<>=!~;\[ ]', line, 1)[0])
        assert name in pins, 'requirements-dev.txt:%d %s is not pinned in requirements-dev.lock' % (number, line)


def test_ansible_commands_print_no_warning():
    for command in ('ansible', 'ansible-playbook', 'ansible-inventory', 'ansible-galaxy'):
        proc = subprocess.run([str(BIN / command), '--version'], capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == '', '%s --version wrote to stderr:\n%s' % (command, proc.stderr)
        assert 'Warning' not in proc.stdout, proc.stdout
