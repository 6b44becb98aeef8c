"""The architecture of a root filesystem, from the ELF header of its `/bin/sh`.

Apptainer stores it in the SIF partition descriptor (`machine.ArchFromContainer`). Symlinks are
resolved *inside* the rootfs (an absolute target is taken relative to the rootfs root, `..` never
climbs above it), so a hostile rootfs cannot make us read host files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Union

from defkit.arch import host_arch

PathLike = Union[str, "os.PathLike[str]"]

_MAX_SYMLINKS = 40  # as Linux's MAXSYMLINKS
_SEARCH_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")

# ELF e_machine -> Go arch; entries that depend on word size / byte order are resolved below.
_MACHINES: dict[int, str] = {
    3: "386",
    40: "arm",
    62: "amd64",
    183: "arm64",
    22: "s390x",
    243: "riscv64",
    258: "loong64",
}
_EM_MIPS = 8
_EM_PPC64 = 21

def elf_arch(rootfs: PathLike) -> str:
    """Go arch name (amd64, arm64, 386, arm, ppc64le, s390x, riscv64, ...) of the rootfs.

    Looks at `/bin/sh`, then the first ELF executable in bin, sbin, usr/bin, usr/sbin (sorted);
    falls back to the host's arch, as Apptainer does, when no ELF file is found.
    """
    from defkit.safepath import Root

    with Root(rootfs) as root:
        arch = elf_file_arch(root.read_head("/bin/sh", 20) or b"")
        if arch is not None:
            return arch
        for directory in _SEARCH_DIRS:
            try:
                names = sorted(root.listdir(directory))
            except OSError:
                continue
            for name in names:
                # Only regular files, never symlinks: this scan must not leave the rootfs.
                head = root.read_head(f"{directory}/{name}", 20, follow=False)
                arch = elf_file_arch(head or b"")
                if arch is not None:
                    return arch
    return host_arch()


def elf_file_arch(data: bytes) -> str | None:
    """Go arch name from the first 20+ bytes of an ELF file; None if not ELF/unknown machine."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    little = data[5] == 1
    (machine,) = struct.unpack("<H" if little else ">H", data[18:20])
    if machine == _EM_MIPS:
        return ("mips64" if is64 else "mips") + ("le" if little else "")
    if machine == _EM_PPC64:
        return "ppc64le" if little else "ppc64"
    return _MACHINES.get(machine)


def resolve_symlinks(path: str, lookup: Callable[[str], str | None]) -> str | None:
    """`path` with every symlink resolved inside an image root, as a chroot would see it.

    `lookup(rel)` returns None when `rel` (relative to the root, "/"-separated) does not exist,
    "" when it exists and is not a symlink, else the symlink's target. The result is relative
    to the root ("" for the root itself); None when missing or after 40 links (a loop).
    """
    todo = [c for c in path.split("/") if c not in ("", ".")]
    todo.reverse()
    current: list[str] = []  # resolved components below the root, none of them a symlink
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if current:
                current.pop()
            continue
        target = lookup("/".join([*current, part]))
        if target is None:
            return None
        if target:
            links += 1
            if links > _MAX_SYMLINKS:
                return None
            if target.startswith("/"):
                current = []
            todo.extend(reversed([c for c in target.split("/") if c not in ("", ".")]))
            continue
        current.append(part)
    return "/".join(current)
