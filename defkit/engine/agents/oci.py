"""`Bootstrap: oci`: an OCI image layout directory (`From: DIR` or `From: DIR:TAG`), the image
for the target architecture, its layers applied in order with whiteouts."""

from __future__ import annotations

from defkit.engine.agents._oci import split_from, unpack
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.engine.oci_image import DirStore, oci_image
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    path, ref = split_from(stage, ctx, "oci", want_dir=True)
    oci_image(DirStore(path), ref, ctx.arch)


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    path, ref = split_from(stage, ctx, "oci", want_dir=True)
    store = DirStore(path)
    return unpack(store, oci_image(store, ref, ctx.arch), rootfs, ctx)
