"""What a definition built for a remote client may use of the build host.

A remote build runs on the server as the server's user, so a definition must not reach the
server's own files: `%setup` (a script run on the host) is refused; host `%files` and
`%appfiles` sources must lie inside the uploaded context (an absolute source `/a/b` is read
from `<context>/a/b`, where the client's archive stores it: the worker builds with
`files_root=<context>`, which resolves it inside the context); the local bootstraps
(`localimage`, `oci`, `oci-archive`, `docker-archive`, `dockerfile`) may use a base inside the
context or inside a directory the server offers (`--local-bases`); a debootstrap mirror must be
http(s). Paths are resolved with symlinks (the context was unpacked and checked before), so a
link cannot lead elsewhere.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from defkit.engine.steps import files_sections
from defkit.errors import BuildError
from defkit.model import DefFile, Stage

#: Agents whose `From:` is a path on the build host.
LOCAL_AGENTS = frozenset({"localimage", "oci", "oci-archive", "docker-archive", "dockerfile",
                          "buildkit"})


def _inside(path: str, roots: Sequence[str]) -> bool:
    resolved = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.commonpath([resolved, real_root]) == real_root:
            return True
    return False


def _check_source(source: str, where: str, context_root: str, def_dir: str) -> None:
    if source.startswith("~"):
        raise BuildError(f"{where}: {source}: a remote build takes its files from the uploaded "
                         "context: use a path relative to the working directory, or absolute")
    # An absolute source is read under the context (the engine's files_root).
    path = (os.path.join(context_root, source.lstrip("/")) if os.path.isabs(source)
            else os.path.join(def_dir, source))
    matches = glob.glob(path) if any(char in source for char in "*?[") else [path]
    for match in matches:
        if not _inside(match, [context_root]):
            raise BuildError(f"{where}: {source} is outside the uploaded build context")


def _app_sources(stage: Stage) -> list[tuple[str, str]]:
    sources = []
    for section in stage.sections:
        if section.name != "appfiles" or section.app is None:
            continue
        for line in section.body.split("\n"):
            words = line.split("#", 1)[0].split()
            if words:
                sources.append((f"%appfiles {section.app}", words[0]))
    return sources


def _check_stage(stage: Stage, context_root: str, def_dir: str,
                 local_bases: Sequence[str]) -> None:
    if stage.sections_named("setup"):
        raise BuildError("%setup runs on the build host and is not allowed in a remote build "
                         "(do the work in %post)")
    agent = (stage.bootstrap or "").strip()
    if agent in LOCAL_AGENTS:
        value = os.path.expanduser((stage.header_value("from") or "").strip())
        # `oci`, `oci-archive` and `docker-archive` take PATH[:TAG]: both readings are checked.
        candidates = {value, value.rsplit(":", 1)[0]}
        for candidate in candidates:
            if not _inside(os.path.join(def_dir, candidate), [context_root, *local_bases]):
                raise BuildError(f"Bootstrap: {agent}: From: {value} is neither in the uploaded "
                                 "build context nor in a base directory this server offers")
    if agent == "debootstrap":
        mirror = (stage.header_value("mirrorurl") or "").strip()
        if not mirror.startswith(("http://", "https://")):
            raise BuildError(f"Bootstrap: debootstrap: MirrorURL {mirror}: a remote build "
                             "takes an http(s) mirror")
    for section, origin in files_sections(stage):
        if origin is None:
            for entry in section.files:
                _check_source(entry.source, "%files", context_root, def_dir)
    for where, source in _app_sources(stage):
        _check_source(source, where, context_root, def_dir)


def check_remote_definition(deffile: DefFile, context_root: str, def_dir: str,
                            local_bases: Sequence[str] = ()) -> None:
    """Refuse (BuildError) a definition that would read the build host's files."""
    for stage in deffile.stages:
        _check_stage(stage, context_root, def_dir, local_bases)
