"""Apptainer's `build TARGET SOURCE` where SOURCE is not a def file (`docker://IMAGE`,
`oras://REF`, `library://REF`, a SIF or a sandbox directory): the one-stage definition Apptainer
builds from it, built by the native engine. `defkit pull docker://` is the same build."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Optional

from defkit.errors import DefkitError

_SCHEMES = {"docker://": "docker", "oras://": "oras", "library://": "library"}


def source_definition(source: str) -> Optional[str]:
    """The definition text for SOURCE; None when SOURCE is a def file (or nothing known)."""
    for scheme, agent in _SCHEMES.items():
        if source.startswith(scheme):
            return f"Bootstrap: {agent}\nFrom: {source[len(scheme):]}\n"
    if os.path.isdir(source):
        return f"Bootstrap: localimage\nFrom: {os.path.abspath(source)}\n"
    if source.endswith(".def"):
        return None  # a definition file by its name: no need to load the SIF reader to look
    from defkit.sif.reader import is_sif

    if os.path.isfile(source) and is_sif(source):
        return f"Bootstrap: localimage\nFrom: {os.path.abspath(source)}\n"
    return None


def build_source(source: str, definition: str, **options: Any) -> Any:
    """Build `definition` (from `source_definition`) with the engine's options; errors name the
    source, not the temporary def file."""
    from defkit.engine.engine import build
    from defkit.errors import UsageError

    if not options.get("output") and not options.get("sandbox"):
        raise UsageError(f"{source}: name the image to write (build TARGET {source})")
    directory = tempfile.mkdtemp(prefix=".defkit-source-", dir=options.get("workdir"))
    try:
        path = os.path.join(directory, "source.def")
        with open(path, "w", encoding="utf-8") as f:
            f.write(definition)
        try:
            return build(path, **options)
        except DefkitError as exc:
            if exc.path == path:
                exc.path, exc.span = None, None
                if source.split("://", 1)[-1] not in exc.message:
                    exc.message = f"{source}: {exc.message}"
            raise
    finally:
        shutil.rmtree(directory, ignore_errors=True)
