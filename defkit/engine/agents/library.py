"""`Bootstrap: library`: a SIF from a Sylabs Library API server as the base.

`From: entity/collection/container[:tag]` (or `library://[host/]...`); the server is the
reference's host, else the `Library:` header, else Sylabs' library (`library.sylabs.io`, which
needs an account). The SIF is downloaded into the build's work directory by
`defkit.remote.library`, its sha256 checked against the library's metadata, then unpacked as
`Bootstrap: localimage` unpacks a SIF. A token comes from `DEFKIT_REMOTE_TOKEN`, or one stored
for that host by `defkit remote login` or SingularityCE's `remote login`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from defkit.engine.agents.base import BootstrapResult, require_keys
from defkit.engine.agents.localimage import unpack_image
from defkit.engine.context import BuildContext, Notice
from defkit.errors import BuildError, DefkitError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    require_keys(stage, "library", REQUIRED_KEYS)
    source = (stage.header_value("from") or "").strip()
    if any(char.isspace() for char in source):
        raise BuildError(f"Bootstrap: library: {source!r} is not a library reference")


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    source = (stage.header_value("from") or "").strip()
    library = (stage.header_value("library") or "").strip()
    fd, image = tempfile.mkstemp(prefix="library-", suffix=".sif", dir=ctx.build_dir)
    os.close(fd)
    try:
        from defkit.remote.library import fetch

        try:
            checksum = fetch(source, library, ctx.arch, image)
        except DefkitError as exc:
            entry = stage.header_entry("from")
            raise BuildError(f"Bootstrap: library: {exc.message}", path=ctx.def_path,
                             span=entry.span if entry is not None else None) from None
        ctx.emit(Notice(f"library image {source}: {checksum}"))
        return unpack_image(image, rootfs, ctx)
    finally:
        with contextlib.suppress(FileNotFoundError):  # a failed download removed it already
            os.unlink(image)
