# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a module for the unit tests: its task in-process (what the action plugin does with a local connection), or
its main() for real.  The phone behind them is the fixture phone (conftest.py)."""

import contextlib
import json

from ansible.module_utils import basic
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import argument_spec, run_task
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE


def params(**options):
    base = {'host': '10.1.4.42', 'passcode': PASSCODE, 'phone_name': 'gs0042'}
    base.update(options)
    return base


def run_in_process(module, args, check_mode=False):
    """What the action plugin does with a local connection: validate the arguments, run the task."""
    validation = ArgumentSpecValidator(argument_spec(module.ARGUMENT_SPEC)).validate(params(**args))
    assert not validation.error_messages, validation.error_messages
    return run_task(module.TASK, validation.validated_parameters, check_mode)


# -- running main() ---------------------------------------------------------------------------

class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


@contextlib.contextmanager
def module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19+
    except ImportError:
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()  # pylint: disable=protected-access
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
