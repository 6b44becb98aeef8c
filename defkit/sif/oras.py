"""SIF images in OCI registries, laid out as Apptainer's `push`/`pull oras://` do.

The manifest is an OCI image manifest whose config is the 2-byte `{}` of media type
`application/vnd.sylabs.sif.config.v1+json` (inlined as `data`, as Apptainer does) and whose only
layer is the whole SIF, `application/vnd.sylabs.sif.layer.v1.sif`, titled with the file name.
A pull accepts what Apptainer accepts: one layer of that type (or the old prototype type, typo
included), any config, an index resolved for the target platform, and a file that is a SIF.
The SIF is streamed from and to disk in both directions (memory does not grow with its size).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from defkit.atomic import replacing
from defkit.errors import DefkitError

if TYPE_CHECKING:
    from defkit.registry.client import RegistryClient
    from defkit.registry.reference import ImageRef
    from defkit.registry.store import BlobStore

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIF_CONFIG = "application/vnd.sylabs.sif.config.v1+json"
SIF_LAYER = "application/vnd.sylabs.sif.layer.v1.sif"
#: The media type of Apptainer's first ORAS prototype, still accepted by `pull` (sic).
SIF_LAYER_PROTOTYPE = "appliciation/vnd.sylabs.sif.layer.tar"
EMPTY_CONFIG = b"{}"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
_READ = 1 << 20
#: SIFs larger than this go up in PATCH chunks of this size. Small chunks cost the registry a
#: round trip and a partial-upload write each (a 128 MiB push to docker-registry: 4.0-4.4 s in
#: 8 MiB chunks, 3.3-3.6 s in 64 MiB, 2.6 s in one PUT); 64 MiB stays under the usual
#: 100 MB request limits of proxies in front of registries.
SIF_CHUNK_SIZE = 64 * 1024 * 1024


class OrasError(DefkitError):
    """A registry entry that is not a SIF as Apptainer lays it out, or a SIF that cannot go."""


def sha256_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            piece = f.read(_READ)
            if not piece:
                break
            digest.update(piece)
            size += len(piece)
    return "sha256:" + digest.hexdigest(), size


def created_annotation(path: str) -> str:
    """RFC 3339 UTC: the image's `org.opencontainers.image.created` label when it has one, else
    the SIF header's creation time."""
    from defkit.image.inspect import inspect_image
    from defkit.sif.reader import read_sif

    try:
        label = inspect_image(path).labels.get(CREATED)
    except DefkitError:
        label = None
    if label:
        return label
    created = read_sif(path).header.created
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_for(layer_digest: str, size: int, *, config_type: str, layer_type: str,
                 layer_annotations: Mapping[str, str],
                 annotations: Mapping[str, str]) -> bytes:
    """The manifest bytes of a one-layer artifact with the empty config, fields in the order
    Go's encoder writes them."""
    config_digest = "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest()
    layer: dict[str, Any] = {"mediaType": layer_type, "digest": layer_digest, "size": size}
    if layer_annotations:
        layer["annotations"] = dict(layer_annotations)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": config_digest, "size": len(EMPTY_CONFIG),
                   "data": base64.b64encode(EMPTY_CONFIG).decode("ascii")},
        "layers": [layer],
    }
    if annotations:
        document["annotations"] = dict(sorted(annotations.items()))
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Pushed:
    reference: str
    digest: str  # the manifest's
    size: int  # the layer's


def push_sif(client: RegistryClient, path: str, ref: ImageRef, *,
             annotations: Mapping[str, str] = {}, chunk_size: int = SIF_CHUNK_SIZE) -> Pushed:
    """Upload the SIF `path` (chunked when large) and tag its manifest as `ref`."""
    from defkit.sif.reader import is_sif

    if not is_sif(path):
        raise OrasError(f"{path}: not a SIF image")
    return push_artifact(client, path, ref, config_type=SIF_CONFIG, layer_type=SIF_LAYER,
                         layer_annotations={TITLE: os.path.basename(path)},
                         annotations={CREATED: created_annotation(path), **annotations},
                         chunk_size=chunk_size)


def push_artifact(client: RegistryClient, path: str, ref: ImageRef, *, config_type: str,
                  layer_type: str, layer_annotations: Mapping[str, str] = {},
                  annotations: Mapping[str, str] = {},
                  chunk_size: int = SIF_CHUNK_SIZE) -> Pushed:
    """Upload the file `path` as the one layer of an artifact with the empty config (chunked
    when large) and tag its manifest as `ref`: a SIF as Apptainer lays it out, or another file
    in the same layout (the build cache's stage archives)."""
    layer_digest, size = sha256_file(path)
    client.push_blob(ref, path, layer_digest, size, chunk_size=chunk_size)
    config_file = _empty_config_file()
    try:
        client.push_blob(ref, config_file, "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest(),
                         len(EMPTY_CONFIG))
    finally:
        os.unlink(config_file)
    data = manifest_for(layer_digest, size, config_type=config_type, layer_type=layer_type,
                        layer_annotations=layer_annotations, annotations=annotations)
    digest = client.put_manifest(ref, OCI_MANIFEST, data)
    return Pushed(str(ref), digest, size)


def _empty_config_file() -> str:
    fd, path = tempfile.mkstemp(prefix=".defkit-sif-config-")
    with os.fdopen(fd, "wb") as f:
        f.write(EMPTY_CONFIG)
    return path


def sif_layer(manifest: Mapping[str, Any], ref: ImageRef) -> tuple[str, Optional[int]]:
    """The SIF layer's (digest, size) under Apptainer's pull rules."""
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        count = len(layers) if isinstance(layers, list) else 0
        raise OrasError(f"{ref}: not a SIF artifact: the manifest must have exactly one layer, "
                        f"it has {count}")
    layer = layers[0]
    media_type = layer.get("mediaType")
    if media_type not in (SIF_LAYER, SIF_LAYER_PROTOTYPE):
        raise OrasError(f"{ref}: not a SIF artifact: layer media type {media_type!r} "
                        f"(expected {SIF_LAYER})")
    size = layer.get("size")
    return str(layer.get("digest", "")), size if isinstance(size, int) else None


@dataclass(frozen=True)
class SifArtifact:
    digest: str  # what the reference resolved to (index or manifest)
    source: ImageRef  # the repository pinned to the chosen manifest
    layer: str  # the SIF's digest
    size: Optional[int]


def find_sif(client: RegistryClient, ref: ImageRef, arch: str, *,
             pinned: Optional[str] = None) -> SifArtifact:
    """The SIF layer `ref` names: the tag resolved once (unless `pinned`), an index resolved
    for `arch`, and the manifest checked under Apptainer's pull rules."""
    from defkit.registry.platforms import is_index, select_platform

    # An unpinned tag is read once, by GET (its digest is computed from the bytes that came),
    # and everything after goes by digest: one request less than a HEAD to resolve it first.
    manifest = client.get_manifest(ref.with_digest(pinned) if pinned else ref)
    digest = manifest.digest
    document = manifest.json()
    chosen = digest
    if is_index(manifest.media_type, document):
        entries = [e for e in document.get("manifests") or [] if isinstance(e, dict)]
        chosen = str(select_platform(entries, arch, str(ref)).get("digest", ""))
        document = client.get_manifest(ref.with_digest(chosen)).json()
    layer, size = sif_layer(document, ref)
    return SifArtifact(digest, ref.with_digest(chosen), layer, size)


def pull_sif(client: RegistryClient, store: BlobStore, ref: ImageRef, arch: str, *,
             pinned: Optional[str] = None) -> tuple[str, str]:
    """Fetch the SIF `ref` names into the blob store (nothing when it is there, checked);
    returns (its path in the store, the digest the reference resolved to)."""
    artifact = find_sif(client, ref, arch, pinned=pinned)
    path = store.ensure(client, artifact.source, artifact.layer, size=artifact.size)
    _check_sif(path, ref, artifact.layer)
    return path, artifact.digest


def pull_sif_to(client: RegistryClient, store: BlobStore, ref: ImageRef, arch: str,
                output: str) -> str:
    """`defkit pull oras://`: the SIF written to `output` (temporary name, then rename): copied
    from the blob store when a build already fetched it, else downloaded straight to `output`
    (one write, as curl does; the store is for builds). Returns the resolved digest."""
    artifact = find_sif(client, ref, arch)
    if store.has(artifact.layer, artifact.size) and store.verify(artifact.layer):
        copy_out(store.path(artifact.layer), output)
        return artifact.digest
    with replacing(output, mode=0o755) as temporary:
        client.fetch_blob(artifact.source, artifact.layer, temporary, size=artifact.size,
                          in_place=True)
        _check_sif(temporary, ref, artifact.layer)
    return artifact.digest


def _check_sif(path: str, ref: ImageRef, layer: str) -> None:
    from defkit.sif.reader import is_sif

    if not is_sif(path):
        raise OrasError(f"{ref}: the layer {layer} is not a SIF image")


def copy_out(source: str, output: str) -> None:
    """Copy a stored SIF to `output`."""
    with replacing(output, mode=0o755) as temporary, open(temporary, "wb") as out, \
            open(source, "rb") as f:
        shutil.copyfileobj(f, out, _READ)
