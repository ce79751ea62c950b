"""``python tests/simulator/phonesim ...`` (the package directory) or ``python -m phonesim ...`` (tests/simulator on
the path) runs the command line."""

import os
import sys

if not __package__:
    # Started as a directory: Python put the package directory itself first on sys.path. Put its parent there instead,
    # so that ``phonesim`` imports as a package and its modules never shadow a standard module.
    HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or '.') != HERE]
    sys.path.insert(0, os.path.dirname(HERE))

from phonesim.cli import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())
