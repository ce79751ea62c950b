# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module tests: the fixture phone (a GRP2614, passcode dialect) behind every transport, and main()
runs."""

import pytest

from ansible.module_utils import basic

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti, reboot_watch
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.module_runner import ModuleExit, module_args


@pytest.fixture
def phone(monkeypatch):
    """A GRP2614 fixture phone behind every transport the collection opens (the task's) and every TCP probe of the
    reboot watch (they take their turn in its reboot plan): 3 lines, account 1 registered, account 2 empty."""
    fixture = FixturePhone.of_model('GRP2614')
    monkeypatch.setattr(cti, 'HTTPTransport', lambda: fixture)
    monkeypatch.setattr(reboot_watch, 'port_open', lambda host, port, timeout: fixture.port_open())
    return fixture


@pytest.fixture
def run_main(monkeypatch):
    """run_main(module, args) -> the result dict given to exit_json or fail_json (with failed=True)."""

    def exit_json(self, **result):
        raise ModuleExit(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(module, args):
        with module_args(args):
            with pytest.raises(ModuleExit) as caught:
                module.main()
        return caught.value.result

    return run
