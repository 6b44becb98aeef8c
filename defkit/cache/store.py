"""The local build cache: `CACHE_DIR/builds/<key>/` holding `image.sif` and `entry.json`.
A stage's entry (per-stage reuse, keyed by its stage key) holds the stage's rootfs as a tar
archive under the same name; its document says `"kind": "stage"`.

An entry is assembled in `builds/.tmp-*` and renamed into place, so a name in the store is
always whole. A lock per key (`builds/.locks/<key>.lock`) is held by a build from its probe to
its store, so two concurrent builds of one key build once: the second waits, then reuses.
`gc` takes the same lock without waiting and skips an entry a running build holds.

Every read checks the entry: its size, inode, mtime and ctime must be those sealed when its
content digest was last verified. ctime cannot be set from user space, so any write to the
image (also through a hard link placed at an output) changes it; the entry is then re-hashed in
full and discarded when the digest differs. This keeps a hit flat in the image's size (a full
re-hash of 1 GiB takes about a second) while a corrupt entry is never returned.
`verify(key)` re-hashes unconditionally.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from defkit.atomic import replacing
from defkit.errors import DefkitError

IMAGE = "image.sif"
META = "entry.json"
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


class CacheError(DefkitError):
    """The cache cannot be used (unwritable directory, unknown key...)."""


def cache_root() -> str:
    from defkit.registry.store import cache_dir

    return os.path.join(cache_dir(), "builds")


@dataclass(frozen=True)
class Entry:
    key: str
    path: str  # the entry directory
    size: int
    digest: str  # sha256:<hex> of the image
    created: float
    last_used: float
    document: dict[str, Any]

    @property
    def image(self) -> str:
        return os.path.join(self.path, IMAGE)


def _seal(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns]


def sha256_file(path: str) -> str:
    from defkit.sif.oras import sha256_file as digest_and_size

    return digest_and_size(path)[0]


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise CacheError(f"{key}: not a cache key (64 hex digits)")
    return key


def place(source: str, target: str) -> str:
    """Put a copy of `source` at `target` (written to a temporary name and renamed): a reflink
    where the file system has them, else a hard link, else a copy. Returns the way used."""
    parent = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", dir=parent)
    try:
        how = "reflink"
        with open(source, "rb") as src:
            try:
                fcntl.ioctl(fd, _FICLONE, src.fileno())
            except OSError:
                how = ""
        os.close(fd)
        fd = -1
        if not how:
            os.unlink(tmp)
            try:
                os.link(source, tmp)
                how = "hardlink"
            except OSError:
                shutil.copyfile(source, tmp)
                how = "copy"
        if how != "hardlink":
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        # rename(2) does nothing when both names are links to one inode (the target is already
        # this entry's hard link, as after an earlier hit): the temporary name would stay.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return how


class BuildCache:
    def __init__(self, root: Optional[str] = None):
        self.root = root or cache_root()

    def _dir(self, key: str) -> str:
        return os.path.join(self.root, _check_key(key))

    def prepare(self) -> None:
        """Create the store's directories; a CacheError when it cannot be written."""
        locks = os.path.join(self.root, ".locks")
        try:
            os.makedirs(locks, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"build cache {self.root}: {exc.strerror}") from None
        if not os.access(self.root, os.W_OK) or not os.access(locks, os.W_OK):
            raise CacheError(f"build cache {self.root}: not writable")

    @contextlib.contextmanager
    def locked(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the key's lock (a build from its probe to its store). With `wait=False`, yields
        False at once when another process holds it. A plain flock, not `filelock`: it is held
        across a whole build, while the build forks its sandboxes, and the kernel drops it when
        its holder dies however it dies (kill -9)."""
        self.prepare()
        path = os.path.join(self.root, ".locks", f"{_check_key(key)}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def get(self, key: str) -> Optional[Entry]:
        """The entry, checked (see the module's docstring); a corrupt one is discarded."""
        path = self._dir(key)
        try:
            with open(os.path.join(path, META), encoding="utf-8") as handle:
                meta = json.load(handle)
            info = os.stat(os.path.join(path, IMAGE))
        except (OSError, ValueError):
            if os.path.lexists(path):
                self.remove(key)
            return None
        if not isinstance(meta, dict) or meta.get("seal") != _seal(info):
            if not self.verify(key):
                return None
            return self.get(key)
        with contextlib.suppress(OSError):
            os.utime(os.path.join(path, META))  # last use, for gc
        return self._entry(key, path, meta, info)

    def _entry(self, key: str, path: str, meta: dict[str, Any], info: os.stat_result) -> Entry:
        used = os.stat(os.path.join(path, META)).st_mtime
        document = meta.get("document")
        return Entry(key, path, info.st_size, str(meta.get("digest", "")),
                     float(meta.get("created", 0)), used,
                     document if isinstance(document, dict) else {})

    def verify(self, key: str) -> bool:
        """Re-hash the entry's image; a corrupt or incomplete entry is removed. The seal is
        renewed when the content is right."""
        path = self._dir(key)
        try:
            with open(os.path.join(path, META), encoding="utf-8") as handle:
                meta = json.load(handle)
            actual = sha256_file(os.path.join(path, IMAGE))
        except (OSError, ValueError):
            self.remove(key)
            return False
        if not isinstance(meta, dict) or meta.get("digest") != actual:
            self.remove(key)
            return False
        meta["seal"] = _seal(os.stat(os.path.join(path, IMAGE)))
        self._write_meta(path, meta)
        return True

    def verify_seal(self, key: str) -> None:
        """Seal the entry's current stat without re-hashing: only for a change this process
        made itself under the key's lock (a hard link to the image changes its ctime)."""
        path = self._dir(key)
        with open(os.path.join(path, META), encoding="utf-8") as handle:
            meta = json.load(handle)
        meta["seal"] = _seal(os.stat(os.path.join(path, IMAGE)))
        self._write_meta(path, meta)

    def _write_meta(self, path: str, meta: dict[str, Any]) -> None:
        with replacing(os.path.join(path, META)) as tmp, \
                open(tmp, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())

    def scratch(self) -> str:
        """A new temporary directory in the store (for a file `put(take=True)` will move in);
        the caller removes it. One left by a dead process goes with `gc`."""
        self.prepare()
        return tempfile.mkdtemp(prefix=".tmp-", dir=self.root)

    def put(self, key: str, image: str, document: dict[str, Any], *,
            take: bool = False) -> Entry:
        """Store a copy of `image` under `key` (assembled aside, then renamed into place).
        With `take`, `image` (made in `scratch()`, so on the store's file system) is moved in,
        not copied: a stage's archive is written once."""
        self.prepare()
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=self.root)
        try:
            stored = os.path.join(staging, IMAGE)
            if take:
                os.rename(image, stored)
            else:
                place(image, stored)
            if os.stat(stored).st_nlink > 1:
                # A hard link would share the output's inode: the store keeps its own bytes.
                os.unlink(stored)
                shutil.copyfile(image, stored)
            os.chmod(stored, 0o444)
            with open(stored, "rb") as handle:
                os.fsync(handle.fileno())
            meta = {"key": key, "digest": sha256_file(stored), "created": time.time(),
                    "document": document, "seal": _seal(os.stat(stored))}
            self._write_meta(staging, meta)
            target = self._dir(key)
            if os.path.lexists(target):
                self.remove(key)
            os.rename(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise CacheError(f"build cache {self.root}: no space left; the image was "
                                 "built but not cached") from None
            raise CacheError(f"build cache {self.root}: {exc.strerror}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = self.get(key)
        assert entry is not None
        return entry

    def remove(self, key: str) -> bool:
        path = self._dir(key)
        if not os.path.lexists(path):
            return False
        # Renamed aside first, so no reader sees a half-removed entry.
        aside = tempfile.mkdtemp(prefix=".tmp-", dir=self.root)
        os.rename(path, os.path.join(aside, "entry"))
        shutil.rmtree(aside, ignore_errors=True)
        return True

    def entries(self) -> list[Entry]:
        """Every entry, least recently used first (contents not re-hashed)."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.root):
                if name.startswith("."):
                    continue
                path = os.path.join(self.root, name)
                try:
                    with open(os.path.join(path, META), encoding="utf-8") as handle:
                        meta = json.load(handle)
                    info = os.stat(os.path.join(path, IMAGE))
                    found.append(self._entry(name, path, meta, info))
                except (OSError, ValueError, AttributeError):
                    continue
        return sorted(found, key=lambda entry: entry.last_used)

    def gc(self, *, max_size: Optional[int] = None, max_age: Optional[float] = None,
           now: Optional[float] = None) -> list[Entry]:
        """Remove entries unused for longer than `max_age` seconds, then the least recently used
        until the total is at most `max_size` bytes; never one a running build holds. Leftover
        temporary directories of dead builds go too. Returns what was removed."""
        now = time.time() if now is None else now
        removed: list[Entry] = []
        entries = self.entries()
        total = sum(entry.size for entry in entries)
        for entry in entries:
            too_old = max_age is not None and now - entry.last_used > max_age
            too_big = max_size is not None and total > max_size
            if not (too_old or too_big):
                continue
            with self.locked(entry.key, wait=False) as held:
                if held and self.remove(entry.key):
                    removed.append(entry)
                    total -= entry.size
        self._reclaim_tmp()
        return removed

    def _reclaim_tmp(self) -> None:
        # A `.tmp-*` older than an hour belongs to a store that died (a live one takes seconds).
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.root):
                path = os.path.join(self.root, name)
                with contextlib.suppress(OSError):
                    if name.startswith(".tmp-") and time.time() - os.stat(path).st_mtime > 3600:
                        shutil.rmtree(path, ignore_errors=True)


def parse_size(text: str) -> int:
    """`500M`, `2G`, `1.5GiB`, `1024` -> bytes."""
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in units and value[-1:] else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        raise CacheError(f"{text}: not a size (e.g. 500M, 2G)") from None
    return int(number * units[unit])


def parse_age(text: str) -> int:
    """`30s`, `15m`, `12h`, `7d`, `2w` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip().lower()
    try:
        if value[-1:] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise CacheError(f"{text}: not a duration (e.g. 12h, 7d)") from None


__all__ = ["BuildCache", "CacheError", "Entry", "cache_root", "parse_age", "parse_size", "place"]
