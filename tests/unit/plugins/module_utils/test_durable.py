# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durable atomic writer (reports, ledgers, backups, state files)."""

import os
import stat

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import durable


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'x.prom'
    path.write_text('old')
    durable.write_atomic(str(path), 'new\n')
    assert path.read_text() == 'new\n'
    assert os.listdir(str(tmp_path)) == ['x.prom']
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_atomic_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / 'x.json'
    path.write_text('old')

    def broken(source, target):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(durable.os, 'replace', broken)
    with pytest.raises(OSError):
        durable.write_atomic(str(path), 'new')
    assert path.read_text() == 'old'
    assert os.listdir(str(tmp_path)) == ['x.json']
