"""Read OCI image layouts (a directory, or a tar of one) and `docker save` archives: pick the
manifest for the target platform, read its config, and apply its layers to a rootfs.

Blob names come from digests (`sha256:<hex>`, checked) or, for docker archives, from
manifest.json (relative names without `..`, checked); every blob is verified against its digest
when one is known. Layers are applied with `extract.extract_tar`, whiteouts included.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Optional, Protocol

from defkit.errors import BuildError
from defkit.registry.platforms import REF_ANNOTATION, describe_entries, is_index, select_platform
from defkit.runner import Runner, run

if TYPE_CHECKING:  # extract (and safepath under it) is imported by apply_layers, tarfile by
    # TarStore: `defkit pull` needs only the index helpers here
    import tarfile

    from defkit.engine.extract import ExtractReport, SpecialEntry

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")


class BlobStore(Protocol):
    name: str

    def read(self, path: str) -> bytes: ...

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...


def _check_name(name: str, where: str) -> str:
    norm = posixpath.normpath(name)
    if name.startswith("/") or norm == ".." or norm.startswith("../"):
        raise BuildError(f"{where}: refusing blob path {name!r} outside the image")
    return norm


class DirStore:
    """An OCI layout directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.name = root

    def _path(self, path: str) -> str:
        full = os.path.join(self.root, _check_name(path, self.root))
        real_root = os.path.realpath(self.root)
        if os.path.commonpath([real_root, os.path.realpath(full)]) != real_root:
            raise BuildError(f"{self.root}: blob {path!r} is a symlink out of the layout")
        return full

    def read(self, path: str) -> bytes:
        try:
            with open(self._path(path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise BuildError(f"{self.root}: {path} is missing") from None

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        try:
            with open(self._path(path), "rb") as f:
                yield f
        except FileNotFoundError:
            raise BuildError(f"{self.root}: {path} is missing") from None


class TarStore:
    """An OCI layout, or a docker-save archive, inside a tar file (read in place)."""

    def __init__(self, path: str) -> None:
        import tarfile

        self.name = path
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
        except (OSError, tarfile.TarError) as exc:
            raise BuildError(f"{path}: not a readable tar archive ({exc})") from None
        self.members: dict[str, tarfile.TarInfo] = {}
        for member in self.tar.getmembers():
            if member.isreg() or member.issym() or member.islnk():
                self.members[posixpath.normpath(member.name.lstrip("/"))] = member

    def close(self) -> None:
        self.tar.close()

    def _member(self, path: str, depth: int = 0) -> tarfile.TarInfo:
        name = _check_name(path, self.name)
        member = self.members.get(name)
        if member is None:
            raise BuildError(f"{self.name}: {path} is missing from the archive")
        if member.issym() or member.islnk():
            # docker save links identical layers; follow within the archive only.
            if depth > 8:
                raise BuildError(f"{self.name}: {path}: too many links")
            base = posixpath.dirname(name) if member.issym() else ""
            return self._member(posixpath.join(base, member.linkname), depth + 1)
        return member

    def read(self, path: str) -> bytes:
        with self.open(path) as f:
            return f.read()

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        f = self.tar.extractfile(self._member(path))
        if f is None:
            raise BuildError(f"{self.name}: {path} is not a file")
        with f:
            yield f


class DigestStore(DirStore):
    """A content-addressed blob store (the registry cache, anything with `path(digest)`) seen as
    a `BlobStore`, so registry images go through the same code as OCI layouts. Readers check
    what they read against the digest (configs and manifests at once, layers while extracted)."""

    def __init__(self, store: Any, name: str) -> None:
        super().__init__(str(getattr(store, "root", name)))
        self.store = store
        self.name = name

    def _path(self, path: str) -> str:
        algorithm, _, hexdigest = _check_name(path, self.name).removeprefix("blobs/").partition("/")
        digest = f"{algorithm}:{hexdigest}"
        blob_path(digest)  # validates the form
        return str(self.store.path(digest))


def blob_path(digest: str) -> str:
    match = _DIGEST.match(digest)
    if match is None:
        raise BuildError(f"unsupported or malformed digest {digest!r}")
    return f"blobs/{match.group(1)}/{match.group(2)}"


def _verify(data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if hashlib.new(algorithm, data).hexdigest() != expected:
        raise BuildError(f"{what}: content does not match its digest {digest}")


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BuildError(f"{what}: invalid JSON ({exc})") from None


@dataclass(frozen=True)
class Layer:
    path: str  # blob path in the store
    digest: Optional[str]  # None when unknown (old docker archives)


@dataclass(frozen=True)
class Image:
    config: dict[str, Any]  # the whole image config JSON
    config_raw: bytes
    layers: tuple[Layer, ...]


def image_of_manifest(store: BlobStore, manifest: dict[str, Any]) -> Image:
    """The config (read and checked) and the layers of an image manifest."""
    config_digest = str((manifest.get("config") or {}).get("digest", ""))
    config_raw = store.read(blob_path(config_digest))
    _verify(config_raw, config_digest, f"{store.name}: config")
    layers = tuple(Layer(blob_path(str(layer.get("digest", ""))), str(layer.get("digest")))
                   for layer in manifest.get("layers") or [])
    config = _json(config_raw, f"{store.name}: config")
    if not isinstance(config, dict):
        raise BuildError(f"{store.name}: the image config is not a JSON object")
    return Image(config, config_raw, layers)


def oci_image(store: BlobStore, ref: Optional[str], arch: str) -> Image:
    """The image of an OCI layout: `ref` (a tag, matched against the ref.name annotation) and
    the platform `arch` select the manifest, descending through nested indexes."""
    index = _json(store.read("index.json"), f"{store.name}: index.json")
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    if ref:
        tagged = [e for e in entries
                  if (e.get("annotations") or {}).get(REF_ANNOTATION) in (ref, ref.split(":")[-1])]
        if not tagged:
            raise BuildError(f"{store.name}: no image tagged {ref!r} "
                             f"(has: {describe_entries(entries)})")
        entries = tagged
    for _ in range(8):  # nested indexes, bounded
        chosen = select_platform(entries, arch, store.name)
        digest = str(chosen.get("digest", ""))
        raw = store.read(blob_path(digest))
        _verify(raw, digest, f"{store.name}: manifest")
        manifest = _json(raw, f"{store.name}: manifest {digest}")
        if is_index(chosen.get("mediaType"), manifest):
            entries = [e for e in manifest.get("manifests") or [] if isinstance(e, dict)]
            continue
        return image_of_manifest(store, manifest)
    raise BuildError(f"{store.name}: image indexes nested too deeply")


def docker_image(store: BlobStore, ref: Optional[str]) -> Image:
    """The image of a `docker save` archive (manifest.json), chosen by `ref` among RepoTags."""
    manifest = _json(store.read("manifest.json"), f"{store.name}: manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise BuildError(f"{store.name}: manifest.json lists no image")
    entries = [e for e in manifest if isinstance(e, dict)]
    if ref:
        wanted = {ref, ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"}
        entries = [e for e in entries if wanted & set(e.get("RepoTags") or [])]
        if not entries:
            raise BuildError(f"{store.name}: no image tagged {ref!r}")
    elif len(entries) > 1:
        tags = ", ".join(t for e in entries for t in e.get("RepoTags") or []) or "untagged"
        raise BuildError(f"{store.name}: several images ({tags}); name one with From: PATH:TAG")
    entry = entries[0]
    config_path = str(entry.get("Config", ""))
    config_raw = store.read(config_path)
    name = posixpath.basename(config_path)
    if name.endswith(".json"):
        name = name[:-5]
    digest = f"sha256:{name}" if re.fullmatch(r"[a-f0-9]{64}", name) else None
    if digest:
        _verify(config_raw, digest, f"{store.name}: config")
    layers = []
    for path in entry.get("Layers") or []:
        path = str(path)
        base = posixpath.basename(path)
        layer_digest = (f"sha256:{base}" if re.fullmatch(r"[a-f0-9]{64}", base)
                        and path.startswith("blobs/") else None)
        layers.append(Layer(path, layer_digest))
    return Image(_json(config_raw, f"{store.name}: config"), config_raw, tuple(layers))


class _Hashing(io.RawIOBase):
    """Hashes what passes through, so a layer's digest is checked while it is extracted."""

    def __init__(self, inner: IO[bytes], algorithm: str) -> None:
        self.inner = inner
        self.hash = hashlib.new(algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(len(view))
        view[: len(data)] = data
        self.hash.update(data)
        return len(data)

    def drain(self) -> None:
        while self.inner.read(1 << 20):
            pass


def apply_layers(store: BlobStore, image: Image, rootfs: str, *,
                 runner: Runner = run) -> tuple[SpecialEntry, ...]:
    """Extract every layer in order into `rootfs`, whiteouts applied; returns what could not
    be applied as the builder (device nodes, foreign ownership) for the image writer."""
    from defkit.engine.extract import extract_tar

    special: dict[str, SpecialEntry] = {}
    for number, layer in enumerate(image.layers, 1):
        with store.open(layer.path) as raw:
            if layer.digest is None:
                report: ExtractReport = extract_tar(raw, rootfs, whiteouts=True, runner=runner)
            else:
                algorithm, _, expected = layer.digest.partition(":")
                hashing = _Hashing(raw, algorithm)
                report = extract_tar(io.BufferedReader(hashing), rootfs, whiteouts=True,
                                     runner=runner)
                hashing.drain()
                if hashing.hash.hexdigest() != expected:
                    raise BuildError(f"{store.name}: layer {number} does not match its digest "
                                     f"{layer.digest}")
        for entry in report.special:
            special[entry.path] = entry
    return tuple(special.values())
