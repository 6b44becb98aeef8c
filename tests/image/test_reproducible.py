"""The whole packing path (squashfs, inspect metadata, arch, SIF) gives byte-identical images."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil

from defkit.image.verify import verify_image
from defkit.metadata import inspect_metadata_json
from defkit.sif.arch import elf_arch
from defkit.sif.writer import write_sif
from defkit.squashfs import make_squashfs
from tests.sif.helpers import DEFINITION, needs_tools, siftool

pytestmark = needs_tools


def pack(rootfs: pathlib.Path, work: pathlib.Path) -> bytes:
    work.mkdir()
    make_squashfs(rootfs, work / "r.sqfs", source_date_epoch=1700000000)
    write_sif(work / "out.sif", definition=DEFINITION,
              inspect_metadata=inspect_metadata_json(rootfs, DEFINITION.decode()),
              squashfs_path=work / "r.sqfs", arch=elf_arch(rootfs))  # fmt: skip
    assert verify_image(work / "out.sif") == []
    return (work / "out.sif").read_bytes()


def test_two_builds_are_byte_identical(rootfs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    first = pack(rootfs, tmp_path / "one")
    # a second tree made differently: copied file by file, new mtimes, other inode order
    copy = tmp_path / "copy"
    shutil.copytree(rootfs, copy, symlinks=True, copy_function=shutil.copy)
    for path in sorted(copy.rglob("*"), reverse=True):
        if not path.is_symlink():
            os.utime(path, (1, 1))
    second = pack(copy, tmp_path / "two")
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    header = siftool("header", str(tmp_path / "two" / "out.sif")).stdout.decode()
    assert f"Primary Architecture: {elf_arch(rootfs)}" in header
