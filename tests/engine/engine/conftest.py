from __future__ import annotations

import pathlib
import shutil

import pytest

from defkit.engine.busybox_rootfs import make_busybox_rootfs


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if shutil.which("mksquashfs") is None or shutil.which("unshare") is None:
        pytest.skip("squashfs-tools and util-linux are needed")
    return make_busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


@pytest.fixture()
def project(tmp_path: pathlib.Path, busybox_template: pathlib.Path) -> pathlib.Path:
    """A directory holding a busybox rootfs (`rootfs/`) next to where the def files go."""
    shutil.copytree(busybox_template, tmp_path / "rootfs", symlinks=True)
    (tmp_path / "work").mkdir()
    return tmp_path
