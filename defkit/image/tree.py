"""Read-only access to a squashfs partition's files (`defkit.metadata.DirTree` reads a
sandbox directory).

The squashfs is read with `unsquashfs -cat`/`-lln`, which write nothing to disk.
"""

from __future__ import annotations

import os
from typing import Union

from defkit.printable import printable
from defkit.safepath import MAX_READ, RootfsReadError
from defkit.sif.arch import resolve_symlinks
from defkit.squashfs import SquashEntry, unsquash_cat, unsquash_list

PathLike = Union[str, "os.PathLike[str]"]


class SquashTree:
    """A squashfs image, or the squashfs partition at `offset` inside a SIF.

    The whole listing is read once (`unsquashfs -lln`, metadata only), so symlinks are resolved
    inside the image here; `unsquashfs -cat` then only ever sees a regular file's real path.
    """

    def __init__(self, path: PathLike, offset: int = 0) -> None:
        self.path = os.fspath(path)
        self.offset = offset
        self._index: dict[str, SquashEntry] | None = None

    def read(self, path: str) -> bytes | None:
        entry = self._resolve(path)
        if entry is None or not entry.mode.startswith("-"):
            return None
        if int(entry.size) > MAX_READ:  # a sparse file can claim terabytes: never cat it
            raise RootfsReadError(printable(f"{path} in the image is larger than {MAX_READ} "
                                            "bytes"), path=self.path)  # fmt: skip
        return unsquash_cat(self.path, entry.path, self.offset)

    def listdir(self, path: str) -> list[str]:
        entry = self._resolve(path)
        if entry is None or not entry.mode.startswith("d"):
            return []
        prefix = entry.path + "/" if entry.path else ""
        return sorted(
            p[len(prefix) :]
            for p in self._entries()
            if p.startswith(prefix) and p != entry.path and "/" not in p[len(prefix) :]
        )

    def _entries(self) -> dict[str, SquashEntry]:
        if self._index is None:
            self._index = {e.path: e for e in unsquash_list(self.path, self.offset)}
        return self._index

    def _resolve(self, path: str) -> SquashEntry | None:
        index = self._entries()

        def lookup(rel: str) -> str | None:
            entry = index.get(rel)
            if entry is None:
                return None
            return entry.target or "" if entry.mode.startswith("l") else ""

        rel = resolve_symlinks(path, lookup)
        return None if rel is None else index.get(rel)
