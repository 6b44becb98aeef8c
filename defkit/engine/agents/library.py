"""`Bootstrap: library`: a SIF from a Sylabs Library API server as the base.

`From: entity/collection/container[:tag]` (or `library://[host/]...`); the server is the
reference's host, else the `Library:` header, else Sylabs' library (`library.sylabs.io`, which
needs an account). The SIF is downloaded into the build's work directory by
`defkit.remote.library`, its sha256 checked against the library's metadata, then unpacked as
`Bootstrap: localimage` unpacks a SIF. A token comes from `DEFKIT_REMOTE_TOKEN`, or one stored
for that host by `defkit remote login` or SingularityCE's `remote login`.

The download runs as a program (`python -m defkit.remote.library`), not an import: the remote
package builds with the engine (`defkit serve`), so the engine does not import from it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from defkit.engine.agents.base import BootstrapResult, require_keys
from defkit.engine.agents.localimage import unpack_image
from defkit.engine.context import BuildContext, Notice
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)
#: Where the `defkit` package is, for the child's import path (a checkout run from its
#: directory has no installed package to find).
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


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
        path = os.pathsep.join(p for p in (_PACKAGE_PARENT, os.environ.get("PYTHONPATH"))
                               if p)
        result = ctx.runner([sys.executable, "-m", "defkit.remote.library", source, library,
                             ctx.arch, image], env={**os.environ, "PYTHONPATH": path})
        if result.returncode != 0:
            lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
            why = lines[-1].removeprefix("error: ") if lines else "the download failed"
            entry = stage.header_entry("from")
            raise BuildError(f"Bootstrap: library: {why}", path=ctx.def_path,
                             span=entry.span if entry is not None else None)
        checksum = result.stdout.decode("ascii", "replace").strip()
        ctx.emit(Notice(f"library image {source}: {checksum}"))
        return unpack_image(image, rootfs, ctx)
    finally:
        with contextlib.suppress(FileNotFoundError):  # a failed download removed it already
            os.unlink(image)
