"""The registry cache (`--cache-from REPO` / `--cache-to REPO`): entries as ORAS artifacts with
Apptainer's SIF media types (defkit.sif.oras), tagged `sha256-<key>` (a `:` would split the tag,
spec §2 gotcha 4), the key and its document as manifest annotations, so `apptainer pull
oras://REPO:sha256-<key>` gets the image and `defkit cache info` can explain it.

A probe is one `HEAD` on the manifest. A pulled image goes through the blob store, which checks
its digest against the manifest on arrival, and is re-hashed again when the local store takes
it. Any registry failure is returned as a message (the caller warns and builds locally).

A stage's entry (per-stage reuse) goes to the same repository under its stage key's tag: an
OCI artifact whose one layer is the stage's rootfs tar (`STAGE_LAYER`, config `STAGE_CONFIG`,
the `{}` config inlined as for a SIF), with the same annotations. It is not a SIF, so
`apptainer pull` refuses it; only defkit builds read it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from defkit.errors import DefkitError

KEY_ANNOTATION = "io.defkit.cache-key"
DOCUMENT_ANNOTATION = "io.defkit.cache-key-doc"


def cache_ref(repository: str, key: str) -> Any:
    from defkit.registry.reference import parse_reference

    name = repository.removeprefix("oras://").rstrip("/").lower()
    return parse_reference(f"{name}:sha256-{key}")


def has(repository: str, key: str, *, insecure: bool) -> tuple[bool, str]:
    """(whether the registry cache holds the key, "") or (False, why it cannot be asked): one
    manifest HEAD, for plans that only need to know."""
    from defkit.registry.client import RegistryClient

    try:
        with RegistryClient(insecure=insecure) as client:
            return client.manifest_exists(cache_ref(repository, key)), ""
    except DefkitError as exc:
        return False, exc.message
    except OSError as exc:
        return False, str(exc)


def pull(repository: str, key: str, arch: str, *, insecure: bool) -> tuple[Optional[str], str]:
    """(the path of the pulled image in the blob store, "") on a hit, (None, "") on a miss,
    (None, why) when the registry cannot be used."""
    from defkit.registry.client import RegistryClient
    from defkit.registry.errors import NotFoundError
    from defkit.registry.store import default_store
    from defkit.sif.oras import pull_sif

    try:
        ref = cache_ref(repository, key)
        with RegistryClient(insecure=insecure) as client:
            try:
                digest = client.resolve(ref)
            except NotFoundError:
                return None, ""
            path, _ = pull_sif(client, default_store(), ref, arch, pinned=digest)
            return path, ""
    except DefkitError as exc:
        return None, exc.message
    except OSError as exc:
        return None, str(exc)


def push(repository: str, key: str, image: str, document: Mapping[str, Any], *,
         insecure: bool) -> str:
    """Push `image` under the key's tag; "" when done, else why not."""
    from defkit.cache.key import canonical
    from defkit.registry.client import RegistryClient
    from defkit.sif.oras import push_sif

    try:
        ref = cache_ref(repository, key)
        with RegistryClient(insecure=insecure) as client:
            push_sif(client, image, ref, annotations={
                KEY_ANNOTATION: key, DOCUMENT_ANNOTATION: canonical(document).decode("utf-8")})
        return ""
    except DefkitError as exc:
        return exc.message
    except OSError as exc:
        return str(exc)


STAGE_CONFIG = "application/vnd.defkit.stage.config.v1+json"
STAGE_LAYER = "application/vnd.defkit.stage.rootfs.v1.tar"


def push_stage(repository: str, key: str, archive: str, document: Mapping[str, Any], *,
               insecure: bool) -> str:
    """Push a stage's archive under its key's tag; "" when done, else why not."""
    from defkit.cache.key import canonical
    from defkit.registry.client import RegistryClient
    from defkit.sif.oras import push_artifact

    try:
        ref = cache_ref(repository, key)
        with RegistryClient(insecure=insecure) as client:
            push_artifact(client, archive, ref, config_type=STAGE_CONFIG, layer_type=STAGE_LAYER,
                          annotations={KEY_ANNOTATION: key,
                                       DOCUMENT_ANNOTATION: canonical(document).decode("utf-8")})
        return ""
    except DefkitError as exc:
        return exc.message
    except OSError as exc:
        return str(exc)


def pull_stage(repository: str, key: str, *, insecure: bool) -> tuple[Optional[str], str]:
    """As `pull`, for a stage's archive: (its path in the blob store, checked against the
    manifest's digest, "") on a hit, (None, "") on a miss, (None, why) when unusable."""
    from defkit.registry.client import RegistryClient
    from defkit.registry.errors import NotFoundError
    from defkit.registry.store import default_store

    try:
        ref = cache_ref(repository, key)
        with RegistryClient(insecure=insecure) as client:
            try:
                digest = client.resolve(ref)
            except NotFoundError:
                return None, ""
            document = client.get_manifest(ref.with_digest(digest)).json()
            layers = document.get("layers")
            if (not isinstance(layers, list) or len(layers) != 1
                    or not isinstance(layers[0], dict)
                    or layers[0].get("mediaType") != STAGE_LAYER):
                return None, f"{ref}: not a defkit stage entry"
            size = layers[0].get("size")
            path = default_store().ensure(client, ref.with_digest(digest),
                                          str(layers[0].get("digest", "")),
                                          size if isinstance(size, int) else None)
            return path, ""
    except DefkitError as exc:
        return None, exc.message
    except OSError as exc:
        return None, str(exc)


__all__ = ["STAGE_CONFIG", "STAGE_LAYER", "cache_ref", "has", "pull", "pull_stage", "push",
           "push_stage"]
