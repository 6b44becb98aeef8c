"""A minimal busybox root filesystem made from the host's static busybox, with no network:
the base of `examples/hello` (`Bootstrap: localimage`, `From: ./busybox-rootfs`).

    python -m defkit.engine.busybox_rootfs DIR

creates DIR with /bin/busybox, a symlink per applet (`busybox --list-full`), /etc/passwd,
/etc/group and the usual empty directories. Debian's busybox-static package provides the binary.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from defkit.errors import BuildError, DefkitError, ToolMissingError
from defkit.runner import Runner, run

CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/initramfs-tools/bin/busybox")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
DIRS = {"bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
        "root": 0o700, "home": 0o755, "tmp": 0o1777, "var/tmp": 0o1777, "dev": 0o755,
        "proc": 0o755, "sys": 0o755}
PT_INTERP = 3


def is_static_elf(path: str) -> bool:
    """True for an ELF executable without a program interpreter (nothing to load at run time)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return False
        wide, little = head[4] == 2, head[5] == 1
        order = "<" if little else ">"
        if wide:
            phoff, phentsize, phnum = (struct.unpack_from(order + "Q", head, 32)[0],
                                       *struct.unpack_from(order + "HH", head, 54))
        else:
            phoff, phentsize, phnum = (struct.unpack_from(order + "I", head, 28)[0],
                                       *struct.unpack_from(order + "HH", head, 42))
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            (kind,) = struct.unpack(order + "I", f.read(4))
            if kind == PT_INTERP:
                return False
    return True


def find_busybox() -> str:
    for path in CANDIDATES:
        if os.path.isfile(path) and is_static_elf(path):
            return path
    raise ToolMissingError("no static busybox found (install the Debian package busybox-static)")


def make_busybox_rootfs(
    directory: str, *, busybox: Optional[str] = None, runner: Runner = run
) -> Path:
    """Create (or refresh) a busybox rootfs in `directory`; returns its path."""
    source = busybox or find_busybox()
    if not is_static_elf(source):
        raise BuildError(f"{source} is not a statically linked executable")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for name, mode in DIRS.items():
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    target = root / "bin" / "busybox"
    if target.exists() or target.is_symlink():
        target.unlink()
    shutil.copyfile(source, target)
    os.chmod(target, 0o755)
    listed = runner([source, "--list-full"])
    if listed.returncode != 0:
        raise BuildError(f"{source} --list-full failed")
    for applet in sorted(listed.stdout.decode("ascii", "replace").split()):
        link = root / applet.lstrip("/")
        if applet.lstrip("/") in ("bin/busybox", "linuxrc") or ".." in applet.split("/"):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink("/bin/busybox", link)
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        (root / name).write_text(text, encoding="ascii")
        os.chmod(root / name, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return root


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python -m defkit.engine.busybox_rootfs DIR\n")
        return 2
    try:
        make_busybox_rootfs(args[0])
    except DefkitError as exc:
        sys.stderr.write(exc.format() + "\n")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
