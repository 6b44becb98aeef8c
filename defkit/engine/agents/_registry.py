"""What the `docker` and `oras` agents share: the reference in `From:`, the digest it is built
from (the lock file's, else the registry's answer, asked once), manifests kept in the blob store
so a second build of the same base asks the registry nothing when the digest is known, and
errors that name the `From:` line."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from defkit.engine.agents.base import require_keys
from defkit.engine.context import BuildContext
from defkit.errors import BuildError, DefkitError
from defkit.model import Stage
from defkit.registry.platforms import is_index, select_platform

if TYPE_CHECKING:
    from defkit.registry.client import RegistryClient
    from defkit.registry.reference import ImageRef
    from defkit.registry.store import BlobStore


def reference(stage: Stage, ctx: BuildContext, agent: str) -> ImageRef:
    from defkit.lock import parse_base

    require_keys(stage, agent, ("from",))
    with at_from(stage, ctx):
        return parse_base(agent, stage.header_value("from") or "", stage)


def check(stage: Stage, ctx: BuildContext, agent: str) -> None:
    """Before the build: `From:` is a valid reference, and a lock file, if any, pins it."""
    reference(stage, ctx, agent)
    with at_from(stage, ctx):
        pinned_digest(stage, ctx)


@contextlib.contextmanager
def at_from(stage: Stage, ctx: BuildContext, ref: Optional[ImageRef] = None) -> Iterator[None]:
    """Errors inside get the `From:` line as their place and name the image reference."""
    try:
        yield
    except DefkitError as exc:
        entry = stage.header_entry("from")
        if exc.path is None and entry is not None:
            exc.path, exc.span = ctx.def_path, entry.span
        if ref is not None and str(ref) not in exc.message:
            exc.message = f"{ref}: {exc.message}"
        raise


def client(ctx: BuildContext) -> RegistryClient:
    from defkit.registry.client import RegistryClient

    return RegistryClient(insecure=ctx.insecure)


@dataclass(frozen=True)
class Resolved:
    digest: str  # what the tag names (or the lock pinned): index or manifest
    manifest_digest: str  # the image for the target arch
    media_type: str
    manifest: dict[str, Any]


def pinned_digest(stage: Stage, ctx: BuildContext) -> Optional[tuple[str, str]]:
    """(digest, manifest digest or "") from the lock file next to the def, if it has one."""
    from defkit.lock import pinned

    entry = pinned(ctx.def_path, stage, ctx.arch)
    return (entry.digest, entry.manifest) if entry is not None else None


def resolve(stage: Stage, ctx: BuildContext, ref: ImageRef, store: BlobStore,
            registry: RegistryClient, *, accept_index: bool = True) -> Resolved:
    """The manifest to build `stage` from: the tag resolved to a digest once (or the lock's),
    then everything fetched by digest, so the tag cannot move mid-build."""
    lock = pinned_digest(stage, ctx)
    digest = lock[0] if lock else (ctx.base_digests.get(str(ref)) or registry.resolve(ref))
    media_type, document = manifest(store, registry, ref, digest)
    chosen = digest
    for _ in range(4):  # nested indexes, bounded
        if not (accept_index and is_index(media_type, document)):
            break
        entries = [e for e in document.get("manifests") or [] if isinstance(e, dict)]
        chosen = str(select_platform(entries, ctx.arch, str(ref)).get("digest", ""))
        media_type, document = manifest(store, registry, ref, chosen)
    if lock and lock[1] and lock[1] != chosen:
        raise BuildError(f"{ref}: the locked index {digest} gives {chosen} for {ctx.arch}, "
                         f"the lock file says {lock[1]}")
    return Resolved(digest, chosen, media_type, document)


def manifest(store: BlobStore, registry: RegistryClient, ref: ImageRef, digest: str
             ) -> tuple[str, dict[str, Any]]:
    """A manifest by digest, from the store when it has it (checked), else from the registry
    (kept in the store)."""
    if store.has(digest):
        with store.open(digest) as f:
            data = f.read()
        document = _document(data, ref)
        return str(document.get("mediaType") or ""), document
    fetched = registry.get_manifest(ref.with_digest(digest))
    store.put(digest, fetched.data)  # a later build with a lock file asks the registry nothing
    return fetched.media_type, _document(fetched.data, ref)


def _document(data: bytes, ref: ImageRef) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise BuildError(f"{ref}: the manifest is not a JSON object")
    return document
