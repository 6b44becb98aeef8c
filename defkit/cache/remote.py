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
from typing import Any, Callable, Optional, TypeVar

from defkit.errors import DefkitError

KEY_ANNOTATION = "io.defkit.cache-key"
DOCUMENT_ANNOTATION = "io.defkit.cache-key-doc"
STAGE_CONFIG = "application/vnd.defkit.stage.config.v1+json"
STAGE_LAYER = "application/vnd.defkit.stage.rootfs.v1.tar"

T = TypeVar("T")


def cache_ref(repository: str, key: str) -> Any:
    from defkit.registry.reference import parse_reference

    name = repository.removeprefix("oras://").rstrip("/").lower()
    return parse_reference(f"{name}:sha256-{key}")


def _with_registry(insecure: bool, action: Callable[[Any], T]) -> tuple[Optional[T], str]:
    """(`action(client)`, "") or (None, why the registry cannot be used): the cache's callers
    warn and build locally, never fail, on a registry that is down or refuses."""
    from defkit.registry.client import RegistryClient

    try:
        with RegistryClient(insecure=insecure) as client:
            return action(client), ""
    except DefkitError as exc:
        return None, exc.message
    except OSError as exc:
        return None, str(exc)


def _resolve(client: Any, ref: Any) -> Optional[str]:
    """The manifest digest of `ref`, None when the registry has no such tag (a miss)."""
    from defkit.registry.errors import NotFoundError

    try:
        return str(client.resolve(ref))
    except NotFoundError:
        return None


def _annotations(key: str, document: Mapping[str, Any]) -> dict[str, str]:
    from defkit.cache.key import canonical

    return {KEY_ANNOTATION: key, DOCUMENT_ANNOTATION: canonical(document).decode("utf-8")}


def has(repository: str, key: str, *, insecure: bool) -> tuple[bool, str]:
    """(whether the registry cache holds the key, "") or (False, why it cannot be asked): one
    manifest HEAD, for plans that only need to know."""
    found, why = _with_registry(
        insecure, lambda client: bool(client.manifest_exists(cache_ref(repository, key))))
    return bool(found), why


def pull(repository: str, key: str, arch: str, *, insecure: bool) -> tuple[Optional[str], str]:
    """(the path of the pulled image in the blob store, "") on a hit, (None, "") on a miss,
    (None, why) when the registry cannot be used."""

    def fetch(client: Any) -> Optional[str]:
        from defkit.registry.store import default_store
        from defkit.sif.oras import pull_sif

        ref = cache_ref(repository, key)
        digest = _resolve(client, ref)
        if digest is None:
            return None
        path, _ = pull_sif(client, default_store(), ref, arch, pinned=digest)
        return str(path)

    return _with_registry(insecure, fetch)


def push(repository: str, key: str, image: str, document: Mapping[str, Any], *,
         insecure: bool) -> str:
    """Push `image` under the key's tag; "" when done, else why not."""

    def send(client: Any) -> None:
        from defkit.sif.oras import push_sif

        push_sif(client, image, cache_ref(repository, key),
                 annotations=_annotations(key, document))

    return _with_registry(insecure, send)[1]


def push_stage(repository: str, key: str, archive: str, document: Mapping[str, Any], *,
               insecure: bool) -> str:
    """Push a stage's archive under its key's tag; "" when done, else why not."""

    def send(client: Any) -> None:
        from defkit.sif.oras import push_artifact

        push_artifact(client, archive, cache_ref(repository, key), config_type=STAGE_CONFIG,
                      layer_type=STAGE_LAYER, annotations=_annotations(key, document))

    return _with_registry(insecure, send)[1]


def pull_stage(repository: str, key: str, *, insecure: bool) -> tuple[Optional[str], str]:
    """As `pull`, for a stage's archive: (its path in the blob store, checked against the
    manifest's digest, "") on a hit, (None, "") on a miss, (None, why) when unusable."""

    def fetch(client: Any) -> Optional[str]:
        from defkit.registry.store import default_store

        ref = cache_ref(repository, key)
        digest = _resolve(client, ref)
        if digest is None:
            return None
        document = client.get_manifest(ref.with_digest(digest)).json()
        layers = document.get("layers")
        if (not isinstance(layers, list) or len(layers) != 1
                or not isinstance(layers[0], dict)
                or layers[0].get("mediaType") != STAGE_LAYER):
            raise DefkitError(f"{ref}: not a defkit stage entry")
        size = layers[0].get("size")
        return str(default_store().ensure(client, ref.with_digest(digest),
                                          str(layers[0].get("digest", "")),
                                          size if isinstance(size, int) else None))

    return _with_registry(insecure, fetch)


__all__ = ["STAGE_CONFIG", "STAGE_LAYER", "cache_ref", "has", "pull", "pull_stage", "push",
           "push_stage"]
