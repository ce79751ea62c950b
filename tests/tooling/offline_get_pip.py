"""Stand-in for ansible-test's get-pip download, for networks that cannot reach it.

ansible-test bootstraps pip into each of its virtual environments by running a
``get-pip-<version>.py`` script it downloads from a host that air-gapped and
restricted networks do not reach.  It looks first in
``~/.ansible/test/cache/get_pip_<version>.py``.  ``install_offline_get_pip.py``
copies this file there.  It does the same job with the interpreter's own
``ensurepip`` and then lets pip install the pinned packages ansible-test asked
for (from the configured package index or mirror).
"""

import subprocess
import sys

# get-pip.py options that ``pip install`` does not understand.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)


if __name__ == '__main__':
    main()
