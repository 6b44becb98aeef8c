"""Build contexts: announced with `POST v1/build-context`, received on a one-time URL.

The upload URL is the capability (as a pre-signed object-store URL is: the client sends no
Authorization with the PUT); it is 32 random bytes, used once, and expires. The body is hashed and
counted while it arrives and never grows past the announced size; a context whose sha256 is not
the announced checksum is discarded. Contexts are stored per owner under their checksum.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Optional

from defkit.remote.protocol import ContextUpload, parse_checksum
from defkit.serve.config import owner_dir
from defkit.serve.errors import RequestError

#: How long an upload URL stays valid.
UPLOAD_LIFETIME = 3600.0


@dataclass(frozen=True)
class _Pending:
    owner: str
    hexdigest: str
    size: int
    expires: float


class ContextStore:
    def __init__(self, root: str, max_size: int) -> None:
        self.root = root
        self.max_size = max_size
        self._pending: dict[str, _Pending] = {}
        os.makedirs(root, mode=0o700, exist_ok=True)

    def path(self, owner: str, hexdigest: str) -> str:
        return os.path.join(self.root, owner_dir(owner), f"{hexdigest}.tar.gz")

    def find(self, owner: str, checksum: str) -> Optional[str]:
        path = self.path(owner, parse_checksum(checksum))
        return path if os.path.isfile(path) else None

    def announce(self, owner: str, upload: ContextUpload) -> Optional[str]:
        """The id of a new upload URL, or None when `owner` already has this context."""
        if upload.size > self.max_size:
            raise RequestError(413, f"the build context ({upload.size} bytes) is larger than "
                                    f"this server accepts ({self.max_size} bytes)")
        hexdigest = parse_checksum(upload.checksum)
        if os.path.isfile(self.path(owner, hexdigest)):
            return None
        now = time.monotonic()
        for key in [key for key, item in self._pending.items() if item.expires < now]:
            del self._pending[key]
        upload_id = secrets.token_urlsafe(32)
        self._pending[upload_id] = _Pending(owner, hexdigest, upload.size,
                                            now + UPLOAD_LIFETIME)
        return upload_id

    async def receive(self, upload_id: str, length: Optional[int],
                      body: AsyncIterator[bytes]) -> None:
        pending = self._pending.pop(upload_id, None)  # one use, even when it fails
        if pending is None or pending.expires < time.monotonic():
            raise RequestError(404, "no such upload location (or it was used or expired)")
        if length is not None and length != pending.size:
            raise RequestError(400, f"Content-Length {length} is not the announced size "
                                    f"{pending.size}")
        target = self.path(pending.owner, pending.hexdigest)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        partial = f"{target}.partial-{secrets.token_hex(8)}"
        digest = hashlib.sha256()
        received = 0
        try:
            with open(partial, "xb") as out:
                async for chunk in body:
                    received += len(chunk)
                    if received > pending.size:
                        raise RequestError(413, "the build context is larger than announced")
                    digest.update(chunk)
                    out.write(chunk)
            if received != pending.size:
                raise RequestError(400, f"the build context has {received} bytes, not the "
                                        f"announced {pending.size}")
            if digest.hexdigest() != pending.hexdigest:
                raise RequestError(400, "the build context's sha256 is not the announced "
                                        "checksum")
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)

    def delete(self, owner: str, checksum: str) -> bool:
        try:
            os.unlink(self.path(owner, parse_checksum(checksum)))
        except FileNotFoundError:
            return False
        return True
