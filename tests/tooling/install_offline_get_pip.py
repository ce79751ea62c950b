"""Install offline_get_pip.py where ansible-test looks for its pip bootstrap script.

Run with the interpreter that has ansible-test installed. The pip version comes
from ansible-test itself, so an ansible-core upgrade needs no change here.
"""

import os
import re
import shutil
import sys

import ansible_test


def pip_version():
    source = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(source, encoding='utf-8') as handle:
        match = re.search(r"pip='([0-9.]+)'", handle.read())
    if not match:
        sys.exit('install_offline_get_pip: cannot find the pip version ansible-test bootstraps in %s' % source)
    return match.group(1)


def main():
    version = pip_version()
    target = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'offline_get_pip.py'), target)
    print('ansible-test pip %s bootstrap: %s' % (version, target))


if __name__ == '__main__':
    main()
