"""The Sylabs remote build protocol: its paths and documents, one definition for both sides.

`defkit build --remote` (the client) and `defkit serve` (the server) read and write these
documents only through this module, so the two cannot drift apart. Field names follow what
SingularityCE's client sends and reads (sylabs/scs-build-client 0.9, `client/build.go`,
`client/build_context.go`, `client/output.go`; the JSON envelope of sylabs/json-resp), which is
what a `singularity build --remote --builder URL` user will send to `defkit serve`:

- the build-context request is `{"size", "checksum"}` and the build request names the context
  `contextChecksum`: the client uses these names, where the prose in
  `../shared/spec/registry-cache-remote.md` §5 says `digest`/`contextDigest`; the server accepts
  both spellings, the client writes the client's;
- digests are written `sha256.<hex>` (a dot, not a colon);
- `definitionRaw` is the definition's bytes, base64 in JSON (Go's encoding of `[]byte`).

Nothing here does I/O; every parser raises `ProtocolError` on a document of the wrong shape, so
a hostile or broken peer gives one clear message, never a `KeyError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from defkit.errors import DefkitError

# --- paths, relative to the builder's (or the library's) base URL ------------------------------

VERSION_PATH = "version"
BUILD_CONTEXT_PATH = "v1/build-context"
BUILD_PATH = "v1/build"
#: The definition parsed as SingularityCE parses it (`types.Definition` JSON); scs-build
#: validates with it and reads the `%files` sources to upload from `buildData.files`.
CONVERT_DEF_FILE_PATH = "v1/convert-def-file"
#: The front end's service discovery document (plain JSON, no envelope).
FRONTEND_CONFIG_PATH = "assets/config/config.prod.json"
TOKEN_STATUS_PATH = "v1/token-status"


def build_context_path(checksum: str) -> str:
    return f"{BUILD_CONTEXT_PATH}/{checksum}"


def build_status_path(build_id: str) -> str:
    return f"{BUILD_PATH}/{build_id}"


def build_cancel_path(build_id: str) -> str:
    return f"{BUILD_PATH}/{build_id}/_cancel"


def build_log_path(build_id: str) -> str:
    """The websocket path (`ws://` for `http://` bases, `wss://` for `https://`)."""
    return f"v1/build-ws/{build_id}"


def imagefile_path(library_ref: str) -> str:
    """The Library API download of a built image (`library_ref` without `library://` or host)."""
    return f"v1/imagefile/{library_ref}"


def image_path(library_ref: str) -> str:
    """The Library API's metadata of one image."""
    return f"v1/images/{library_ref}"


class ProtocolError(DefkitError):
    """A peer sent a document this protocol does not allow, or the server reported an error."""


# --- digests -------------------------------------------------------------------------------------

_CHECKSUM = re.compile(r"sha256\.([0-9a-f]{64})")


def format_checksum(hexdigest: str) -> str:
    """`sha256.<hex>`, as the protocol spells a sha256 digest."""
    if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        raise ProtocolError(f"not a sha256 hex digest: {hexdigest!r}")
    return f"sha256.{hexdigest}"


def parse_checksum(text: str) -> str:
    """The hex digest of a `sha256.<hex>` checksum (also what a URL path segment must be)."""
    match = _CHECKSUM.fullmatch(text)
    if match is None:
        raise ProtocolError(f"not a sha256 checksum of the form sha256.<hex>: {text[:80]!r}")
    return match.group(1)


# --- the JSON envelope (sylabs/json-resp) --------------------------------------------------------


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data}


def error_envelope(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def unwrap(document: Any) -> Any:
    """The `data` of a success envelope; an error envelope raises its message."""
    if not isinstance(document, dict):
        raise ProtocolError("the server's reply is not a JSON object")
    error = document.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        text = message if isinstance(message, str) and message else "unknown error"
        raise ProtocolError(f"the server refused: {text}" + (f" (code {code})" if code else ""))
    if "data" not in document:
        raise ProtocolError("the server's reply has neither data nor error")
    return document["data"]


# --- field readers: one message per wrong shape ---------------------------------------------------


def _field(document: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = document.get(name, default)
    if value is None:
        return default
    # bool is an int in Python; a size must not be `true`.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"field {name!r} must be a {kind.__name__}")
    return value


def _object(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return document


# --- documents -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextUpload:
    """`POST v1/build-context`: the client announces a build context of `size` bytes."""

    size: int
    checksum: str  # sha256.<hex> of the gzip'd tar as sent

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "checksum": self.checksum}

    @classmethod
    def from_json(cls, document: Any) -> ContextUpload:
        fields = _object(document, "a build-context request")
        size = _field(fields, "size", int, -1)
        checksum = _field(fields, "checksum", str, "") or _field(fields, "digest", str, "")
        if size < 0:
            raise ProtocolError("a build-context request needs a size of 0 or more bytes")
        parse_checksum(checksum)
        return cls(size=size, checksum=checksum)


@dataclass(frozen=True)
class BuildRequest:
    """`POST v1/build`: a definition to build, with where its `%files` context is."""

    definition: bytes
    arch: str = ""
    library_ref: str = ""
    library_url: str = ""
    context_checksum: str = ""
    #: The client's working directory, against which relative `%files` sources resolve.
    working_dir: str = ""
    #: A defkit extension (`sourceDateEpoch`, ignored by other servers): the SOURCE_DATE_EPOCH
    #: the client's own build would use, so the image equals a local build's, byte for byte.
    source_date_epoch: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "definitionRaw": base64.b64encode(self.definition).decode("ascii"),
            "libraryRef": self.library_ref,
        }
        if self.library_url:
            document["libraryURL"] = self.library_url
        if self.arch:
            document["builderRequirements"] = {"arch": self.arch}
        if self.context_checksum:
            document["contextChecksum"] = self.context_checksum
        if self.working_dir:
            document["workingDir"] = self.working_dir
        if self.source_date_epoch is not None:
            document["sourceDateEpoch"] = self.source_date_epoch
        return document

    @classmethod
    def from_json(cls, document: Any) -> BuildRequest:
        fields = _object(document, "a build request")
        raw = _field(fields, "definitionRaw", str, "")
        try:
            definition = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("field 'definitionRaw' is not base64") from None
        if not definition:
            raise ProtocolError("a build request needs a definition (definitionRaw)")
        requirements = _object(fields.get("builderRequirements") or {}, "builderRequirements")
        checksum = _field(fields, "contextChecksum", str, "") or _field(
            fields, "contextDigest", str, ""
        )
        if checksum:
            parse_checksum(checksum)
        epoch = fields.get("sourceDateEpoch")
        if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool)
                                  or epoch < 0):
            raise ProtocolError("field 'sourceDateEpoch' must be a non-negative integer")
        return cls(
            definition=definition,
            arch=_field(requirements, "arch", str, ""),
            library_ref=_field(fields, "libraryRef", str, ""),
            library_url=_field(fields, "libraryURL", str, ""),
            context_checksum=checksum,
            working_dir=_field(fields, "workingDir", str, ""),
            source_date_epoch=epoch,
        )


@dataclass(frozen=True)
class BuildInfo:
    """A build's state (`POST v1/build` and `GET v1/build/<id>`).

    There is no exit code in the protocol: a build succeeded when, after its log closed,
    it `is_complete` with an `image_size` above 0.
    """

    id: str
    is_complete: bool = False
    image_size: int = 0
    image_checksum: str = ""  # sha256.<hex> of the SIF
    library_ref: str = ""
    library_url: str = ""

    @property
    def succeeded(self) -> bool:
        return self.is_complete and self.image_size > 0

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "isComplete": self.is_complete,
            "libraryRef": self.library_ref,
            "libraryURL": self.library_url,
        }
        if self.image_size:
            document["imageSize"] = self.image_size
        if self.image_checksum:
            document["imageChecksum"] = self.image_checksum
        return document

    @classmethod
    def from_json(cls, document: Any) -> BuildInfo:
        fields = _object(document, "a build's status")
        build_id = _field(fields, "id", str, "")
        if not build_id:
            raise ProtocolError("a build's status has no id")
        checksum = _field(fields, "imageChecksum", str, "")
        if checksum:
            parse_checksum(checksum)
        return cls(
            id=build_id,
            is_complete=_field(fields, "isComplete", bool, False),
            image_size=_field(fields, "imageSize", int, 0),
            image_checksum=checksum,
            library_ref=_field(fields, "libraryRef", str, ""),
            library_url=_field(fields, "libraryURL", str, ""),
        )


@dataclass(frozen=True)
class FrontendConfig:
    """`assets/config/config.prod.json`: where a remote's services are.

    `{"builderAPI": {"uri": ...}, "libraryAPI": {"uri": ...}, "tokenAPI": {"uri": ...}}`
    """

    builder_url: str
    library_url: str
    token_url: str = ""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "builderAPI": {"uri": self.builder_url},
            "libraryAPI": {"uri": self.library_url},
        }
        if self.token_url:
            document["tokenAPI"] = {"uri": self.token_url}
        return document

    @classmethod
    def from_json(cls, document: Any) -> FrontendConfig:
        fields = _object(document, "the remote's service configuration")

        def uri(service: str) -> Optional[str]:
            entry = fields.get(service)
            if entry is None:
                return None
            value = _field(_object(entry, service), "uri", str, "")
            return value or None

        builder, library = uri("builderAPI"), uri("libraryAPI")
        if builder is None or library is None:
            # scs-build-client refuses the same: without both there is nothing to build against.
            raise ProtocolError(
                "the remote's service configuration names no builderAPI or libraryAPI"
            )
        return cls(builder_url=builder, library_url=library, token_url=uri("tokenAPI") or "")


# --- version, token status and the Library API (what `defkit serve` answers) ---------------------

#: The Library API version `defkit serve` speaks: scs-library-client asks `GET version` for
#: `apiVersion` and sends `?arch=` for architecture tags from 2.0.0-alpha.2 on.
LIBRARY_API_VERSION = "2.0.0"


@dataclass(frozen=True)
class VersionInfo:
    """`GET version` of a builder or a library: `{"version", "apiVersion"}`."""

    version: str
    api_version: str = ""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"version": self.version}
        if self.api_version:
            document["apiVersion"] = self.api_version
        return document

    @classmethod
    def from_json(cls, document: Any) -> VersionInfo:
        fields = _object(document, "a version document")
        return cls(version=_field(fields, "version", str, ""),
                   api_version=_field(fields, "apiVersion", str, ""))


def token_status(valid: bool) -> dict[str, Any]:
    """The `data` of `GET v1/token-status` (SingularityCE only looks at the status code)."""
    return {"status": "valid" if valid else "invalid"}


_REF_PART = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class LibraryRef:
    """`entity/collection/container:tag`, a library image's name without `library://` or host.

    As the Sylabs library reads short refs: `container` is `library/default/container` and
    `entity/container` is `entity/default/container`; the tag defaults to `latest`.
    """

    entity: str
    collection: str
    container: str
    tag: str = "latest"

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.collection}/{self.container}"

    def __str__(self) -> str:
        return f"{self.path}:{self.tag}"

    @classmethod
    def parse(cls, text: str) -> LibraryRef:
        name = text.removeprefix("library://").strip("/")
        path, _, tag = name.partition(":")
        parts = path.split("/")
        if len(parts) == 1:
            parts = ["library", "default", *parts]
        elif len(parts) == 2:
            parts = [parts[0], "default", parts[1]]
        tag = tag or "latest"
        if len(parts) != 3 or not all(_REF_PART.fullmatch(part) for part in parts) \
                or not _TAG.fullmatch(tag):
            raise ProtocolError(f"not a library reference (entity/collection/container:tag): "
                                f"{text[:120]!r}")
        return cls(parts[0], parts[1], parts[2], tag)


@dataclass(frozen=True)
class LibraryImage:
    """`GET v1/images/<ref>?arch=`: one image's metadata as scs-library-client reads it (its
    `Image` model; `hash` is `sha256.<hex>` of the SIF, checked by the client after download)."""

    id: str
    hash: str
    size: int
    arch: str
    ref: LibraryRef
    created_at: str = ""  # RFC 3339
    owner: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hash": self.hash,
            "description": "",
            "container": self.ref.path,
            "size": self.size,
            "uploaded": True,
            "signed": False,
            "arch": self.arch,
            "encrypted": False,
            "customData": "",
            "entityName": self.ref.entity,
            "collectionName": self.ref.collection,
            "containerName": self.ref.container,
            "tags": [self.ref.tag],
            "containerStars": 0,
            "containerDownloads": 0,
            "deleted": False,
            "createdBy": self.owner,
            "createdAt": self.created_at,
        }

    @classmethod
    def from_json(cls, document: Any) -> LibraryImage:
        fields = _object(document, "a library image")
        checksum = _field(fields, "hash", str, "")
        if checksum:
            parse_checksum(checksum)
        tags = fields.get("tags") or ["latest"]
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ProtocolError("field 'tags' must be a list of strings")
        ref = LibraryRef.parse(
            f"{_field(fields, 'entityName', str, '')}/{_field(fields, 'collectionName', str, '')}"
            f"/{_field(fields, 'containerName', str, '')}:{tags[0]}")
        return cls(id=_field(fields, "id", str, ""), hash=checksum,
                   size=_field(fields, "size", int, 0), arch=_field(fields, "arch", str, ""),
                   ref=ref, created_at=_field(fields, "createdAt", str, ""),
                   owner=_field(fields, "createdBy", str, ""))
