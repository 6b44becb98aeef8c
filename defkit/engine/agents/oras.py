"""`Bootstrap: oras`: a SIF from an OCI registry as the base (`From: HOST/REPO:TAG`, with or
without `oras://`), pulled under Apptainer's rules (`defkit.sif.oras`) into the blob store, by
the digest the tag resolved to (or the lock file's), then unpacked as `Bootstrap: localimage`
unpacks a SIF."""

from __future__ import annotations

from defkit.engine.agents import _registry
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.agents.localimage import unpack_image
from defkit.engine.context import BuildContext, Notice
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    _registry.check(stage, ctx, "oras")


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    from defkit.registry.store import default_store
    from defkit.sif.oras import pull_sif

    ref = _registry.reference(stage, ctx, "oras")
    with _registry.at_from(stage, ctx, ref), _registry.client(ctx) as client:
        lock = _registry.pinned_digest(stage, ctx)
        path, digest = pull_sif(client, default_store(), ref, ctx.arch,
                                pinned=lock[0] if lock else None)
        ctx.emit(Notice(f"{ref}: {digest}"))
        return unpack_image(path, rootfs, ctx)
