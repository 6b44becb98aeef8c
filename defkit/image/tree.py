"""Read-only access to an image's files, whether a sandbox directory or a squashfs partition.

Both readers only ever read: a directory is walked with symlinks resolved inside its root (never
on the host), and a squashfs is read with `unsquashfs -cat`/`-lln`, which write nothing to disk.
"""

from __future__ import annotations

import os
import stat
from typing import Protocol, Union

from defkit.build.squashfs import unsquash_cat, unsquash_list
from defkit.sif.arch import resolve_in_root

PathLike = Union[str, "os.PathLike[str]"]


class ImageTree(Protocol):
    """Files of an image; paths are absolute as seen inside the container."""

    def read(self, path: str) -> bytes | None:
        """The regular file at `path`, or None if it is missing or not a regular file."""

    def listdir(self, path: str) -> list[str]:
        """Sorted names in the directory `path` ([] when it is missing)."""


class DirTree:
    """A sandbox directory (or a rootfs being built)."""

    def __init__(self, root: PathLike) -> None:
        self.root = os.path.abspath(os.fspath(root))

    def read(self, path: str) -> bytes | None:
        host = resolve_in_root(self.root, path)
        if host is None:
            return None
        try:
            # resolve_in_root left no symlink in the path; lstat guards against a swap since.
            if not stat.S_ISREG(os.lstat(host).st_mode):
                return None
            with open(host, "rb") as f:
                return f.read()
        except OSError:
            return None

    def listdir(self, path: str) -> list[str]:
        host = resolve_in_root(self.root, path)
        if host is None or not os.path.isdir(host) or os.path.islink(host):
            return []
        try:
            return sorted(os.listdir(host))
        except OSError:
            return []


class SquashTree:
    """A squashfs image, or the squashfs partition at `offset` inside a SIF."""

    def __init__(self, path: PathLike, offset: int = 0) -> None:
        self.path = os.fspath(path)
        self.offset = offset

    def read(self, path: str) -> bytes | None:
        return unsquash_cat(self.path, path, self.offset)

    def listdir(self, path: str) -> list[str]:
        directory = path.strip("/")
        entries = unsquash_list(self.path, self.offset, members=[directory] if directory else [])
        prefix = directory + "/" if directory else ""
        names = {e.path[len(prefix) :] for e in entries if e.path.startswith(prefix)}
        return sorted(n for n in names if n and "/" not in n)
