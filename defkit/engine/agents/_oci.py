"""The shared part of the `oci`, `oci-archive` and `docker-archive` agents: find the local
image named by `From:`, unpack its layers into the rootfs and write what its config implies."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Optional

from defkit.engine.agents.base import BootstrapResult, DeviceNode, require_keys
from defkit.engine.context import BuildContext
from defkit.engine.oci_config import config_object_json, image_config, write_image_config
from defkit.engine.oci_image import BlobStore, Image, TarStore, apply_layers
from defkit.errors import BuildError
from defkit.model import Stage
from defkit.safepath import Root


def split_from(stage: Stage, ctx: BuildContext, agent: str, *, want_dir: bool
               ) -> tuple[str, Optional[str]]:
    """`From: PATH[:REF]` -> (absolute path, ref or None). The longest existing prefix before a
    `:` is the path, so paths containing `:` still work."""
    require_keys(stage, agent, ("from",))
    value = (stage.header_value("from") or "").strip()
    candidates: list[tuple[str, Optional[str]]] = [(value, None)]
    for index in range(len(value) - 1, 0, -1):
        if value[index] == ":":
            candidates.append((value[:index], value[index + 1:] or None))
    for path, ref in candidates:
        full = os.path.normpath(os.path.join(ctx.def_dir, os.path.expanduser(path)))
        if (os.path.isdir(full) if want_dir else os.path.isfile(full)):
            return full, ref
    kind = "an OCI layout directory" if want_dir else "an archive file"
    raise BuildError(f"Bootstrap: {agent}: From: {value} is not {kind} "
                     f"(relative paths are taken from {ctx.def_dir})")


@contextlib.contextmanager
def open_archive(stage: Stage, ctx: BuildContext, agent: str
                 ) -> Iterator[tuple[TarStore, Optional[str]]]:
    """The archive file named by `From:` (read in place, closed on exit) and the ref after it."""
    path, ref = split_from(stage, ctx, agent, want_dir=False)
    store = TarStore(path)
    try:
        yield store, ref
    finally:
        store.close()


def unpack(store: BlobStore, image: Image, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    os.makedirs(rootfs, exist_ok=True)
    special = apply_layers(store, image, rootfs, runner=ctx.runner)
    config = image_config(image.config)
    write_image_config(rootfs, config)
    devices = tuple(DeviceNode(e.path, e.kind, e.mode, e.uid, e.gid, e.major, e.minor)
                    for e in special if e.kind in ("c", "b"))
    ownership = tuple((e.path, e.mode, e.uid, e.gid) for e in special
                      if e.kind == "m" and _exists(rootfs, e.path))
    return BootstrapResult(image_config=config, oci_config_json=config_object_json(image.config),
                           devices=devices, ownership=ownership)


def _exists(rootfs: str, path: str) -> bool:
    """Whether an entry recorded in an earlier layer survived the later ones."""
    with Root(rootfs) as root:
        return root.exists(path)
