from __future__ import annotations

import pathlib
import shutil

import pytest

from tests.engine.engine.conftest import busybox_template

__all__ = ["busybox_template", "workspace"]  # the engine tests' busybox rootfs, built once


@pytest.fixture()
def workspace(tmp_path: pathlib.Path, busybox_template: pathlib.Path,  # noqa: F811
              monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A CI-like checkout as the working directory: `rendered/busybox-rootfs` where the hello
    family's points look for their base, and a fixed SOURCE_DATE_EPOCH (part of every key)."""
    shutil.copytree(busybox_template, tmp_path / "rendered" / "busybox-rootfs", symlinks=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path
