"""The content-addressed store of pulled blobs: `root/<algorithm>/<hex>`.

A blob is written under a temporary name and renamed, so a name in the store is always a
whole download whose digest was checked on arrival; `open`/`verify` check it again on read, and
an entry that fails is removed so the next `ensure` fetches it again. A lock file per digest
lets concurrent builds (threads or processes) fetch a blob once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

from defkit.atomic import replacing
from defkit.registry.errors import DigestMismatchError
from defkit.registry.reference import ImageRef, check_digest

if TYPE_CHECKING:
    from defkit.registry.client import RegistryClient

_READ_SIZE = 1024 * 1024


def cache_dir() -> str:
    """defkit's cache directory: `$DEFKIT_CACHE_DIR`, else the user cache directory's `defkit`
    (`$XDG_CACHE_HOME/defkit`). The blob store and the build cache live under it."""
    explicit = os.environ.get("DEFKIT_CACHE_DIR")
    if explicit:
        return explicit
    import platformdirs  # honours $XDG_CACHE_HOME

    return platformdirs.user_cache_dir("defkit", appauthor=False)


def default_root() -> str:
    """The blob store: `blobs/` in the cache directory."""
    return os.path.join(cache_dir(), "blobs")


class _VerifyingReader(io.RawIOBase):
    """Reads a store entry, hashing as it goes; at the end a wrong digest raises (and the
    entry is discarded), so nothing that reads to the end trusts corrupt data."""

    def __init__(self, store: BlobStore, digest: str):
        super().__init__()
        self._store = store
        self._digest = digest
        self._file = open(store.path(digest), "rb")  # noqa: SIM115 - closed by close()
        self._hash: Any = hashlib.new(digest.partition(":")[0])
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        if count:
            self._hash.update(memoryview(buffer)[:count])
        elif not self._checked:
            self._checked = True
            actual = f"{self._digest.partition(':')[0]}:{self._hash.hexdigest()}"
            if actual != self._digest:
                self._store.discard(self._digest)
                raise DigestMismatchError(
                    f"blob store: {self._digest} is corrupt (its content hashes to {actual}); "
                    "it was removed, run again to fetch it"
                )
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class BlobStore:
    def __init__(self, root: str):
        self.root = root

    def __repr__(self) -> str:
        return f"BlobStore({self.root!r})"

    def path(self, digest: str) -> str:
        check_digest(digest, "blob store")
        algorithm, _, encoded = digest.partition(":")
        return os.path.join(self.root, algorithm, encoded)

    def has(self, digest: str, size: Optional[int] = None) -> bool:
        """True when the entry exists (with `size` bytes, when given); content not re-read."""
        try:
            actual = os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            return False
        return size is None or actual == size

    def open(self, digest: str) -> IO[bytes]:
        """The entry for reading; reading it to the end re-checks its digest."""
        return io.BufferedReader(_VerifyingReader(self, digest), _READ_SIZE)

    def verify(self, digest: str) -> bool:
        """Re-hash the entry; a corrupt one is removed. False when missing or corrupt."""
        path = self.path(digest)
        hasher = hashlib.new(digest.partition(":")[0])
        try:
            with open(path, "rb") as handle:
                for piece in iter(lambda: handle.read(_READ_SIZE), b""):
                    hasher.update(piece)
        except FileNotFoundError:
            return False
        if f"{digest.partition(':')[0]}:{hasher.hexdigest()}" != digest:
            self.discard(digest)
            return False
        return True

    def discard(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(digest))

    @contextlib.contextmanager
    def _locked(self, digest: str) -> Iterator[str]:
        """Hold the entry's lock (across threads and processes); yields the entry's path."""
        import filelock

        path = self.path(digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with filelock.FileLock(os.path.join(self.root, f".{digest.replace(':', '-')}.lock")):
            yield path

    def put(self, digest: str, data: bytes) -> str:
        """Store `data` (a manifest or config already in memory) as entry `digest`; its path.

        The digest is checked before anything is written; the bytes go to a temporary name
        that is renamed, under the same lock as `ensure`."""
        algorithm = digest.partition(":")[0]
        path = self.path(digest)  # checks the digest's form
        actual = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        if actual != digest:
            raise DigestMismatchError(f"blob store: data given as {digest} hashes to {actual}")
        with self._locked(digest), replacing(path, mode=0o644) as temporary, \
                open(temporary, "wb") as out:
            out.write(data)
        return path

    def ensure(
        self,
        client: RegistryClient,
        ref: ImageRef,
        digest: str,
        size: Optional[int] = None,
        *,
        progress: Optional[Callable[[int], None]] = None,
    ) -> str:
        """The path of blob `digest`, fetched from `ref`'s repository when the store lacks it.

        An entry already present is re-hashed before it is trusted; a corrupt one is fetched
        again."""
        with self._locked(digest) as path:
            if self.has(digest, size) and self.verify(digest):
                return path
            self.discard(digest)  # wrong size: a stale or foreign file
            client.fetch_blob(ref, digest, path, size=size, progress=progress)
        return path


def default_store() -> BlobStore:
    return BlobStore(default_root())
