"""`Bootstrap: oci-archive`: a tar of an OCI image layout (`From: FILE.tar[:TAG]`), read in
place without unpacking the archive first."""

from __future__ import annotations

from defkit.engine.agents._oci import open_archive, unpack
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.engine.oci_image import oci_image
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    with open_archive(stage, ctx, "oci-archive") as (store, ref):
        oci_image(store, ref, ctx.arch)


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    with open_archive(stage, ctx, "oci-archive") as (store, ref):
        return unpack(store, oci_image(store, ref, ctx.arch), rootfs, ctx)
