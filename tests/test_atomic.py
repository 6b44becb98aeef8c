"""Outputs replace their target whole or not at all."""

from __future__ import annotations

import os
import pathlib

import pytest

from defkit.atomic import NEW_FILE_MODE, replacing, write_text
from defkit.errors import UsageError


def test_new_file_gets_the_default_mode_and_nothing_else_is_left(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "out.def"
    write_text(str(target), "Bootstrap: scratch\r\n")
    assert target.read_bytes() == b"Bootstrap: scratch\r\n"  # newlines as given
    assert target.stat().st_mode & 0o7777 == NEW_FILE_MODE
    assert os.listdir(tmp_path) == ["out.def"]


def test_existing_file_keeps_its_mode_unless_one_is_given(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "out"
    target.write_text("old")
    target.chmod(0o600)
    write_text(str(target), "new")
    assert (target.read_text(), target.stat().st_mode & 0o7777) == ("new", 0o600)
    write_text(str(target), "newer", mode=0o755)
    assert target.stat().st_mode & 0o7777 == 0o755


def test_a_failing_block_leaves_the_old_file_and_no_temporary(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "image.sif"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(str(target)) as temporary:
        pathlib.Path(temporary).write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["image.sif"]


def test_an_unwritable_place_is_one_line(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match=r"^.*/missing/out: cannot write: No such file"):
        write_text(str(tmp_path / "missing" / "out"), "x")
