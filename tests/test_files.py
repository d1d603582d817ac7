from __future__ import annotations

import os

import pytest

from headwater import files
from headwater.errors import InvalidRequestError


def test_a_file_that_fails_to_write_leaves_no_staging_file(tmp_path, monkeypatch):
    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        files.write_atomic(tmp_path / "report.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_the_file_gets_ordinary_permissions_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    umask = os.umask(0o022)
    try:
        files.write_atomic(target, "{}")
    finally:
        os.umask(umask)
    assert target.read_text() == "{}" and target.stat().st_mode & 0o777 == 0o644


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InvalidRequestError, match="is a folder"):
        files.write_atomic(tmp_path, "{}")
