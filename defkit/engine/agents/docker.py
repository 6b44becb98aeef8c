"""`Bootstrap: docker`: an image from a registry (`From: alpine:3.19`, `Registry:`, `Namespace:`).

The tag is resolved to a digest once (or taken from `FILE.def.lock`), and everything after is
fetched by digest; an index gives the image for `--arch`. Config and layers go to the
content-addressed blob store (a second build of the same base downloads nothing), then through
the same code as `Bootstrap: oci` (whiteouts, opaque directories, the image config turned into
`/.singularity.d`). The digest is recorded as the label `org.opencontainers.image.base.digest`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from defkit.engine.agents import _registry
from defkit.engine.agents._oci import unpack
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext, Notice
from defkit.engine.oci_image import DigestStore, image_of_manifest
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_NAME = "org.opencontainers.image.base.name"


def check(stage: Stage, ctx: BuildContext) -> None:
    _registry.check(stage, ctx, "docker")


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    from defkit.registry.store import default_store

    ref = _registry.reference(stage, ctx, "docker")
    store = default_store()
    with _registry.at_from(stage, ctx, ref), _registry.client(ctx) as client:
        resolved = _registry.resolve(stage, ctx, ref, store, client)
        manifest = resolved.manifest
        if not isinstance(manifest.get("config"), dict) or "layers" not in manifest:
            raise BuildError(f"not an image manifest ({resolved.media_type or 'no media type'})")
        ctx.emit(Notice(f"{ref}: {resolved.digest}"))
        pinned_ref = ref.with_digest(resolved.manifest_digest)
        layers = manifest.get("layers") or []
        for descriptor in [manifest["config"], *layers]:
            if not isinstance(descriptor, dict):
                raise BuildError("a manifest descriptor is not a JSON object")
            size = descriptor.get("size")
            store.ensure(client, pinned_ref, str(descriptor.get("digest", "")),
                         size=size if isinstance(size, int) else None)
        blobs = DigestStore(store, str(ref))
        image = image_of_manifest(blobs, manifest)
        config = _with_base_labels(image.config, str(ref.with_digest(resolved.digest)),
                                   resolved.digest)
        return unpack(blobs, dataclasses.replace(image, config=config), rootfs, ctx)


def _with_base_labels(config: dict[str, Any], name: str, digest: str) -> dict[str, Any]:
    inner = dict(config.get("config") or {})
    labels = dict(inner.get("Labels") or {})
    labels[BASE_NAME] = name
    labels[BASE_DIGEST] = digest
    inner["Labels"] = labels
    return {**config, "config": inner}
