"""`Bootstrap: oci-archive`: a tar of an OCI image layout (`From: FILE.tar[:TAG]`), read in
place without unpacking the archive first."""

from __future__ import annotations

from defkit.build.agents._oci import split_from, unpack
from defkit.build.agents.base import BootstrapResult
from defkit.build.context import BuildContext
from defkit.build.oci_image import TarStore, oci_image
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    path, ref = split_from(stage, ctx, "oci-archive", want_dir=False)
    store = TarStore(path)
    try:
        oci_image(store, ref, ctx.arch)
    finally:
        store.close()


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    path, ref = split_from(stage, ctx, "oci-archive", want_dir=False)
    store = TarStore(path)
    try:
        return unpack(store, oci_image(store, ref, ctx.arch), rootfs, ctx)
    finally:
        store.close()
