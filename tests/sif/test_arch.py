"""elf_arch: the ELF machine of /bin/sh, resolved inside the rootfs only."""

from __future__ import annotations

import os
import pathlib
import struct

import pytest

from defkit.arch import host_arch
from defkit.errors import BuildError
from defkit.safepath import Root
from defkit.sif.arch import elf_arch, elf_file_arch
from tests.sif.helpers import BUSYBOX


def elf(machine: int, *, is64: bool = True, little: bool = True) -> bytes:
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + bytes(9)
    return ident + struct.pack("<HH" if little else ">HH", 2, machine) + bytes(44)


@pytest.mark.parametrize(
    ("header", "arch"),
    [
        (elf(62), "amd64"),
        (elf(3, is64=False), "386"),
        (elf(183), "arm64"),
        (elf(40, is64=False), "arm"),
        (elf(21), "ppc64le"),
        (elf(21, little=False), "ppc64"),
        (elf(22, little=False), "s390x"),
        (elf(243), "riscv64"),
        (elf(8, is64=False, little=False), "mips"),
        (elf(8, is64=True, little=True), "mips64le"),
        (elf(258), "loong64"),
        (elf(9999), None),
        (b"#!/bin/sh\n" + bytes(20), None),
        (b"\x7fEL", None),
    ],
)
def test_elf_machines(header: bytes, arch: str | None) -> None:
    assert elf_file_arch(header) == arch


def test_busybox_rootfs_is_host_arch(tmp_path: pathlib.Path) -> None:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static not installed")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "busybox").write_bytes(pathlib.Path(BUSYBOX).read_bytes())
    (tmp_path / "bin" / "sh").symlink_to("/bin/busybox")  # absolute: means rootfs/bin/busybox
    expected = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, host_arch())
    assert elf_arch(tmp_path) == expected


def _resolved(root: pathlib.Path, cpath: str) -> os.stat_result | None:
    """What `cpath` leads to inside `root` (None when missing or a loop)."""
    try:
        with Root(root) as opened:
            return opened.lstat(cpath, follow=True)
    except BuildError:
        return None


def _same(info: os.stat_result | None, host: pathlib.Path) -> bool:
    return info is not None and (info.st_dev, info.st_ino) == (host.stat().st_dev, host.stat().st_ino)


def test_symlinks_never_leave_the_rootfs(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    # /bin/sh points at the host's shell by every route; inside the rootfs none of them exists.
    (root / "bin" / "sh").symlink_to("../../../../../../../../../../bin/sh")
    (root / "bin" / "dash").symlink_to("/usr/bin/dash")
    (root / "usr" / "bin" / "tool").write_bytes(elf(183))  # the rootfs's own arm64 binary
    (root / "bin" / "a-link").symlink_to("/bin/sh")  # sorted first, must be skipped
    assert _resolved(root, "/bin/sh") is None
    assert elf_arch(root) == "arm64"
    # `..` stops at the rootfs root, as in a chroot
    (root / "bin" / "up").symlink_to("../../../usr/bin/tool")
    assert _same(_resolved(root, "/bin/up"), root / "usr" / "bin" / "tool")


def test_symlink_loop_and_fallback(tmp_path: pathlib.Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").symlink_to("sh2")
    (tmp_path / "bin" / "sh2").symlink_to("sh")
    assert _resolved(tmp_path, "/bin/sh") is None
    assert elf_arch(tmp_path) == host_arch()  # no ELF at all: the host's, as Apptainer
    (tmp_path / "bin" / "sh").unlink()
    (tmp_path / "bin" / "sh").write_bytes(elf(22, little=False))
    assert elf_arch(tmp_path) == "s390x"


def test_merged_usr_layout(tmp_path: pathlib.Path) -> None:
    # Debian: /bin -> usr/bin, /usr/bin/sh -> dash
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "usr" / "bin" / "dash").write_bytes(elf(183))
    (tmp_path / "usr" / "bin" / "sh").symlink_to("dash")
    assert _same(_resolved(tmp_path, "/bin/sh"), tmp_path / "usr" / "bin" / "dash")
    assert elf_arch(tmp_path) == "arm64"
