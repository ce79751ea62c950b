# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module tests: a fake phone behind every transport, and main() runs."""

import pytest

from ansible.module_utils import basic

from ansible_collections.phonefleet.grandstream.plugins.module_utils import cti, reboot_watch
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.modules.fake_phone import (
    FakePhone, FakeSession, ModuleExit, module_args,
)


@pytest.fixture
def phone(monkeypatch):
    """A FakePhone behind every transport the collection opens (the task's and the reboot probes')."""
    fake = FakePhone()
    monkeypatch.setattr(cti, 'HTTPTransport', lambda: FakeSession(fake))
    monkeypatch.setattr(reboot_watch, 'port_open', lambda host, port, timeout: fake.tcp_connect())
    return fake


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
