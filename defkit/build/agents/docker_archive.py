"""`Bootstrap: docker-archive`: a `docker save` tar (`From: FILE.tar[:REPO:TAG]`): manifest.json
gives the config and the layers, applied in order with whiteouts."""

from __future__ import annotations

from defkit.build.agents._oci import split_from, unpack
from defkit.build.agents.base import BootstrapResult
from defkit.build.context import BuildContext
from defkit.build.oci_image import TarStore, docker_image
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    path, ref = split_from(stage, ctx, "docker-archive", want_dir=False)
    store = TarStore(path)
    try:
        docker_image(store, ref)
    finally:
        store.close()


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    path, ref = split_from(stage, ctx, "docker-archive", want_dir=False)
    store = TarStore(path)
    try:
        return unpack(store, docker_image(store, ref), rootfs, ctx)
    finally:
        store.close()
