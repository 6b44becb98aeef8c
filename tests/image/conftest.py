from __future__ import annotations

import pathlib

import pytest

from defkit.build.squashfs import make_squashfs
from tests.sif.helpers import busybox_tree


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return busybox_tree(tmp_path_factory.mktemp("rootfs") / "root")


@pytest.fixture(scope="session")
def squashfs(rootfs: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("sqfs") / "root.sqfs"
    make_squashfs(rootfs, out, source_date_epoch=1700000000)
    return out
