"""The architecture of a root filesystem, from the ELF header of its `/bin/sh`.

Apptainer stores it in the SIF partition descriptor (`machine.ArchFromContainer`). Symlinks are
resolved *inside* the rootfs (an absolute target is taken relative to the rootfs root, `..` never
climbs above it), so a hostile rootfs cannot make us read host files.
"""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


def elf_arch(rootfs: PathLike) -> str:
    """Go arch name (amd64, arm64, 386, arm, ppc64le, s390x, riscv64, ...) of the rootfs.

    Looks at `/bin/sh`, then the first ELF executable in bin, sbin, usr/bin, usr/sbin (sorted);
    falls back to the host's arch, as Apptainer does, when no ELF file is found.
    """
    raise NotImplementedError


def elf_file_arch(data: bytes) -> str | None:
    """Go arch name from the first 20+ bytes of an ELF file; None if not ELF/unknown machine."""
    raise NotImplementedError


def host_arch() -> str:
    """Go arch name of the machine we run on."""
    raise NotImplementedError


def resolve_in_root(rootfs: PathLike, path: str) -> str | None:
    """Host path of `path` inside `rootfs`, following symlinks within it; None if missing/loop."""
    raise NotImplementedError
