"""Built images under library references, per owner: what the Library API endpoints serve.

A SIF is stored once under its sha256 (`blobs/<hex>.sif`); each owner has an index from
`entity/collection/container:tag` and architecture to a blob. An ephemeral image (a build without
a `libraryRef`) and its index entry expire; a blob no index names any more is removed.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

from defkit.atomic import write_text
from defkit.remote.protocol import LibraryImage, LibraryRef, format_checksum
from defkit.serve.config import owner_dir


@dataclass(frozen=True)
class StoredImage:
    hexdigest: str
    size: int
    arch: str
    created: float
    expires: Optional[float]

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.hexdigest, "size": self.size, "arch": self.arch,
                "created": self.created, "expires": self.expires}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> StoredImage:
        return cls(str(document["sha256"]), int(document["size"]), str(document["arch"]),
                   float(document["created"]), document.get("expires"))

    def metadata(self, ref: LibraryRef, owner: str) -> LibraryImage:
        created = datetime.datetime.fromtimestamp(self.created, datetime.timezone.utc)
        return LibraryImage(id=self.hexdigest[:24], hash=format_checksum(self.hexdigest),
                            size=self.size, arch=self.arch, ref=ref,
                            created_at=created.isoformat().replace("+00:00", "Z"), owner=owner)


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs")
        os.makedirs(self.blobs, mode=0o700, exist_ok=True)
        self._indexes: dict[str, dict[str, StoredImage]] = {}

    def blob(self, hexdigest: str) -> str:
        return os.path.join(self.blobs, f"{hexdigest}.sif")

    def _index_path(self, owner: str) -> str:
        return os.path.join(self.root, f"{owner_dir(owner)}.json")

    def _index(self, owner: str) -> dict[str, StoredImage]:
        index = self._indexes.get(owner)
        if index is None:
            index = {}
            with contextlib.suppress(FileNotFoundError), \
                    open(self._index_path(owner), encoding="utf-8") as f:
                index = {key: StoredImage.from_json(value) for key, value in json.load(f).items()}
            self._indexes[owner] = index
        return index

    def _save(self, owner: str) -> None:
        document = {key: value.to_json() for key, value in self._index(owner).items()}
        write_text(self._index_path(owner), json.dumps(document, sort_keys=True), mode=0o600)

    @staticmethod
    def _key(ref: LibraryRef, arch: str) -> str:
        return f"{ref}@{arch}"

    def add(self, owner: str, ref: LibraryRef, arch: str, sif: str, hexdigest: str, size: int,
            lifetime: Optional[float]) -> StoredImage:
        """Take `sif` (renamed into the store) as `ref` for `arch`."""
        blob = self.blob(hexdigest)
        if os.path.exists(blob):
            os.unlink(sif)
        else:
            os.replace(sif, blob)
        now = time.time()
        stored = StoredImage(hexdigest, size, arch, now, now + lifetime if lifetime else None)
        self._index(owner)[self._key(ref, arch)] = stored
        self._save(owner)
        return stored

    def find(self, owner: str, ref: LibraryRef, arch: str) -> Optional[StoredImage]:
        """The image `ref` of `owner` for `arch` (any architecture when `arch` is empty)."""
        index = self._index(owner)
        now = time.time()
        candidates = [index.get(self._key(ref, arch))] if arch else [
            value for key, value in sorted(index.items()) if key.startswith(f"{ref}@")]
        for stored in candidates:
            if stored is not None and (stored.expires is None or stored.expires > now) \
                    and os.path.exists(self.blob(stored.hexdigest)):
                return stored
        return None

    def expire(self) -> None:
        """Drop expired entries of the owners seen, and blobs no index names."""
        now = time.time()
        names: set[str] = set()
        for owner in list(self._indexes):
            index = self._index(owner)
            gone = [key for key, value in index.items()
                    if value.expires is not None and value.expires <= now]
            for key in gone:
                del index[key]
            if gone:
                self._save(owner)
        for name in os.listdir(self.root):
            if name.endswith(".json"):
                with contextlib.suppress(OSError, ValueError), \
                        open(os.path.join(self.root, name), encoding="utf-8") as f:
                    names.update(f"{value['sha256']}.sif" for value in json.load(f).values()
                                 if value.get("expires") is None or value["expires"] > now)
        for name in os.listdir(self.blobs):
            if name.endswith(".sif") and name not in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.blobs, name))
