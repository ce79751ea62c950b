# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every unit test gets its own per-user state directory (module_utils/state_dir.py): a password refused in one test
is remembered there (module_utils/credentials.py), never in the real user's state nor by the next test."""

import pytest


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path, monkeypatch):
    path = tmp_path / 'state'
    monkeypatch.setenv('GRANDSTREAM_STATE_DIR', str(path))
    return path
