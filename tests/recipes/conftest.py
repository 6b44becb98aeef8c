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
def workspace(tmp_path: pathlib.Path, busybox_template: pathlib.Path,
              monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A CI-like checkout as the working directory: `rendered/busybox-rootfs` where the hello
    family's points look for their base, and a fixed SOURCE_DATE_EPOCH (part of every key)."""
    shutil.copytree(busybox_template, tmp_path / "rendered" / "busybox-rootfs", symlinks=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path
