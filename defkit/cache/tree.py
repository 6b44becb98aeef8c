"""The tree hash of a `%files` source, as the engine copies it.

Host copies follow symlinks (`cp -L`, see `safepath.copy_into`), so the hash does too: it covers,
in sorted order, each entry's path relative to the source, its type, its permission bits and its
content (a symlink, met only when not following, by its target). Modification times, owners and
the source's own location are left out, so a fresh checkout elsewhere hashes the same.

Content is hashed with BLAKE3 (PyPI `blake3`, Rust, SIMD and threads) rather than hashlib's
sha256: on 1 GiB in 10,000 files (spec §10) sha256 takes 1.8 s against 0.8 s for BLAKE3, and the
issue asks for a key within 1.5x of `b3sum`. The digest of each file is remembered in a stat
cache keyed by device, inode, size, mtime and ctime, so an unchanged file is not read again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from typing import Optional

import blake3

from defkit.atomic import replacing

#: Files at least this big are hashed through mmap with several threads.
_BIG = 4 * 1024 * 1024
#: A file changed this recently may change again within the same timestamp tick, unseen by
#: its stat; its digest is not remembered (git's "racy clean" problem).
_RACY_SECONDS = 2.0


class StatCache:
    """Content digests (and other facts about files) by (device, inode, size, mtime, ctime), kept
    in one JSON file."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.entries: dict[str, str] = {}
        self.changed = False
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                with open(path, encoding="utf-8") as handle:
                    loaded = json.load(handle)
                if isinstance(loaded, dict):
                    self.entries = {k: v for k, v in loaded.items()
                                    if isinstance(k, str) and isinstance(v, str)}

    @staticmethod
    def _id(info: os.stat_result, what: str) -> str:
        identity = (f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:"
                    f"{info.st_ctime_ns}")
        return f"{what}@{identity}" if what else identity

    def get(self, info: os.stat_result, what: str = "") -> Optional[str]:
        """The value remembered for the file `info` describes: its content digest, or with
        `what`, another fact about it (e.g. the version a tool's binary prints)."""
        return self.entries.get(self._id(info, what))

    def put(self, info: os.stat_result, value: str, what: str = "") -> None:
        newest = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9
        if time.time() - newest < _RACY_SECONDS:
            return
        self.entries[self._id(info, what)] = value
        self.changed = True

    def save(self) -> None:
        """Written to a temporary name and renamed; a cache that cannot be written is skipped
        (it only saves time)."""
        if self.path is None or not self.changed:
            return
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with replacing(self.path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.entries, handle, separators=(",", ":"))
        self.changed = False


def file_digest(path: str, info: os.stat_result, cache: Optional[StatCache] = None) -> str:
    """The BLAKE3 hex digest of a regular file's content."""
    if cache is not None:
        known = cache.get(info)
        if known is not None:
            return known
    if info.st_size >= _BIG:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
    else:
        with open(path, "rb") as handle:
            hasher = blake3.blake3(handle.read())
    digest = hasher.hexdigest()
    if cache is not None:
        cache.put(info, digest)
    return digest


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block")):
        if test(mode):
            return name
    return "other"


def tree_hash(source: str, *, follow: bool = True, cache: Optional[StatCache] = None) -> str:
    """The BLAKE3 hex digest of `source` (a file or a directory tree). Walked with an explicit
    stack, as the project's tree walks are (no recursion limit on deep trees)."""
    records = blake3.blake3()
    stack = [""]
    while stack:
        relative = stack.pop()
        path = os.path.join(source, relative) if relative else source
        info = os.stat(path) if follow else os.lstat(path)
        kind = _kind(info.st_mode)
        if kind == "file":
            content = file_digest(path, info, cache)
        elif kind == "symlink":
            content = os.readlink(path)
        elif kind in ("char", "block"):
            content = f"{os.major(info.st_rdev)},{os.minor(info.st_rdev)}"
        else:
            content = ""
        record = [relative or ".", kind, f"{stat.S_IMODE(info.st_mode):o}", content]
        records.update(json.dumps(record).encode() + b"\n")
        if kind == "dir":
            # Reversed so that the stack pops names in sorted order.
            stack.extend(os.path.join(relative, name) if relative else name
                         for name in sorted(os.listdir(path), reverse=True))
    return records.hexdigest()


__all__ = ["StatCache", "file_digest", "tree_hash"]
