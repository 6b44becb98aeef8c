"""A client for the download half of the Sylabs Library API: an image's metadata and its SIF.

`GET v1/images/<entity/collection/container>:<tag>?arch=` gives the image's `hash`
(`sha256.<hex>`) and `size`; `GET v1/imagefile/<...>:<tag>?arch=` gives the SIF, either at once
(200) or by a 303 redirect to object storage, as sylabs/scs-library-client `client/pull.go`
expects. The SIF is streamed to a file while its sha256 is computed, and a file whose digest is
not the expected one is removed: nothing unverified is left for a build to use.

The bearer token follows a redirect only to the same scheme, host and port: a pre-signed
object-storage URL carries its own authorisation, and must not receive the library's token.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from defkit.errors import UsageError
from defkit.remote import protocol
from defkit.remote.protocol import (
    LibraryImage,
    format_checksum,
    image_path,
    imagefile_path,
    parse_checksum,
)
from defkit.remote.transport import RemoteError, Server, one_line, same_origin

#: The Sylabs library, where `Bootstrap: library` goes without a `Library:` header (as in
#: SingularityCE; it needs an account and a token).
DEFAULT_LIBRARY = "https://library.sylabs.io"
MAX_REDIRECTS = 5
#: Downloads: no total time limit (images are large), but a stalled connection fails.
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LibraryRef:
    """`library://[host/]entity/collection/container[:tag]`: the library host, if named, and
    the image's name (`protocol.LibraryRef`, which reads short names as the Sylabs library
    does)."""

    host: str  # "" when the reference names no library host
    image: protocol.LibraryRef

    @property
    def name(self) -> str:
        """`entity/collection/container:tag`, as the API's paths take it."""
        return str(self.image)

    def __str__(self) -> str:
        return f"library://{self.host + '/' if self.host else ''}{self.name}"


def parse_library_ref(text: str) -> LibraryRef:
    """A `library:` reference (`library://[host/]entity/collection/container[:tag]`,
    `library:///path`, `library:path`) or a bare `entity/collection/container:tag`."""
    value = text.strip()
    host = ""
    if value.startswith("library://"):
        value = value[len("library://"):]
        # `library://entity/collection/container` names no host (what builders return, and
        # what SingularityCE's `From:` usually is); a fourth component in front is the host.
        if value.count("/") == 3 and not value.startswith("/"):
            host, _, value = value.partition("/")
    elif value.startswith("library:"):
        value = value[len("library:"):]
    try:
        return LibraryRef(host, protocol.LibraryRef.parse(value.lstrip("/")))
    except protocol.ProtocolError:
        raise UsageError(f"{text}: not a library reference of the form "
                         "library://[HOST/]ENTITY/COLLECTION/CONTAINER[:TAG]") from None


def library_url(ref: LibraryRef, configured: str) -> str:
    """The library to ask: the reference's own host (over https, unless `configured` names that
    host with its scheme), else `configured`, else Sylabs'."""
    configured = configured.strip().rstrip("/")
    if ref.host and urlsplit(configured).netloc.lower() != ref.host.lower():
        return f"https://{ref.host}"
    return configured or DEFAULT_LIBRARY


def _query(arch: str) -> str:
    return "?" + urlencode({"arch": arch}) if arch else ""


def image_info(server: Server, ref: LibraryRef, arch: str) -> LibraryImage:
    """The image's checksum and size (`v1/images`)."""
    from defkit.remote.protocol import ProtocolError

    response = server.request("GET", image_path(ref.name) + _query(arch), expect="image lookup")
    if response.status_code == 404:
        raise RemoteError(f"{ref}: no such image in the library at {server.host}"
                          + (f" (arch {arch})" if arch else ""))
    data = server.data(response, f"looking up {ref}")
    try:
        return LibraryImage.from_json(data)
    except ProtocolError as exc:
        raise RemoteError(f"the library at {server.host}: {exc.message} ({ref})") from None


ProgressCallback = Callable[[int, int], None]  # (bytes so far, total or 0)


def download(server: Server, ref: LibraryRef, arch: str, out_path: str, *,
             expected: str = "", progress: Optional[ProgressCallback] = None) -> str:
    """Stream the SIF of `ref` into `out_path` (created or truncated) and check its sha256
    against `expected` (`sha256.<hex>`; looked up with `image_info` when empty). Returns the
    checksum. On any failure `out_path` is removed."""
    size = 0
    if not expected:
        info = image_info(server, ref, arch)
        expected, size = info.hash, info.size
    want = parse_checksum(expected)
    digest = hashlib.sha256()
    try:
        received = _stream(server, imagefile_path(ref.name) + _query(arch), ref, out_path,
                           digest, size, progress)
        if size and received != size:
            raise RemoteError(f"{ref}: the library sent {received} bytes, its metadata says "
                              f"{size}")
        if digest.hexdigest() != want:
            raise RemoteError(f"{ref}: the downloaded image's sha256 is "
                              f"{format_checksum(digest.hexdigest())}, not the expected "
                              f"{expected}: not used")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out_path)
        raise
    return expected


def _stream(server: Server, path: str, ref: LibraryRef, out_path: str,
            digest: hashlib._Hash, size: int, progress: Optional[ProgressCallback]) -> int:
    url = server.url(path)
    headers = server.auth_headers()
    client = httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False,
                          headers=dict(server.http.headers))
    try:
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", url, headers=headers) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise RemoteError(f"{ref}: the library at {server.host} redirected "
                                          "without a Location")
                    url = urljoin(url, location)
                    # The token goes only where it was given for (a pre-signed storage URL
                    # has its own authorisation in it).
                    headers = server.auth_headers() if same_origin(url, server.base) else {}
                    continue
                if response.status_code == 404:
                    raise RemoteError(f"{ref}: no such image in the library at {server.host}")
                server.check(response, f"downloading {ref}")
                total = size or int(response.headers.get("content-length") or 0)
                received = 0
                with open(out_path, "wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(received, total)
                return received
        raise RemoteError(f"{ref}: more than {MAX_REDIRECTS} redirects from the library at "
                          f"{server.host}")
    except httpx.HTTPError as exc:
        raise RemoteError(f"{ref}: the download from {server.host} failed: "
                          f"{server.redact(one_line(str(exc))) or type(exc).__name__}") from None
    finally:
        client.close()


def fetch(source: str, configured: str, arch: str, out_path: str) -> str:
    """Download the image `source` names (`From:` of a `Bootstrap: library`) from its library
    (`configured`: the `Library:` header) into `out_path`, checked; returns its checksum."""
    from defkit.remote.config import token_for

    ref = parse_library_ref(source)
    url = library_url(ref, configured)
    with Server(url, token_for(url), what="library") as server:
        return download(server, ref, arch, out_path)


__all__ = ["DEFAULT_LIBRARY", "LibraryRef", "download", "fetch", "image_info", "library_url",
           "parse_library_ref"]
