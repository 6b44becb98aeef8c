"""`Bootstrap: library`: a SIF from a Sylabs Library API server as the base.

`From: entity/collection/container[:tag]` (or `library://[host/]...`); the server is the
reference's host, else the `Library:` header, else Sylabs' library (`library.sylabs.io`, which
needs an account). The SIF is downloaded through `defkit.remote.library` into the build's work
directory, its sha256 checked against the library's metadata, then unpacked as
`Bootstrap: localimage` unpacks a SIF. A token comes from `DEFKIT_REMOTE_TOKEN`, or one stored
for that host by `defkit remote login` or SingularityCE's `remote login`.
"""

from __future__ import annotations

import os
import tempfile

from defkit.engine.agents.base import BootstrapResult, require_keys
from defkit.engine.agents.localimage import unpack_image
from defkit.engine.context import BuildContext, Notice
from defkit.errors import BuildError, DefkitError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    from defkit.remote.library import parse_library_ref

    require_keys(stage, "library", REQUIRED_KEYS)
    try:
        parse_library_ref(stage.header_value("from") or "")
    except DefkitError as exc:
        raise BuildError(f"Bootstrap: library: {exc.message}") from None


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    from defkit.remote.config import token_for
    from defkit.remote.library import download, library_url, parse_library_ref
    from defkit.remote.transport import Server

    check(stage, ctx)
    ref = parse_library_ref(stage.header_value("from") or "")
    url = library_url(ref, stage.header_value("library") or "")
    fd, image = tempfile.mkstemp(prefix="library-", suffix=".sif", dir=ctx.build_dir)
    os.close(fd)
    with Server(url, token_for(url), what="library") as server:
        try:
            checksum = download(server, ref, ctx.arch, image)
        except DefkitError as exc:
            raise BuildError(f"Bootstrap: library: {exc.message}") from None
    ctx.emit(Notice(f"{ref} from {server.host}: {checksum}"))
    try:
        return unpack_image(image, rootfs, ctx)
    finally:
        os.unlink(image)
