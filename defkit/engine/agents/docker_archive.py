"""`Bootstrap: docker-archive`: a `docker save` tar (`From: FILE.tar[:REPO:TAG]`): manifest.json
gives the config and the layers, applied in order with whiteouts."""

from __future__ import annotations

from defkit.engine.agents._oci import open_archive, unpack
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.engine.oci_image import docker_image
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    with open_archive(stage, ctx, "docker-archive") as (store, ref):
        docker_image(store, ref)


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    with open_archive(stage, ctx, "docker-archive") as (store, ref):
        return unpack(store, docker_image(store, ref), rootfs, ctx)
