"""Dockerfiles built by the native engine: `defkit build Dockerfile` and `Bootstrap: dockerfile`
(alias `buildkit`, Apptainer 1.5's agent, which drives a BuildKit daemon).

No Docker, BuildKit or Apptainer is involved: the Dockerfile goes through defkit's converter
(`defkit.convert.convert_dockerfile`, Docker's semantics as a multi-stage .def) and the .def is
built by the engine, with the Dockerfile's context as the directory `%files` sources come from.
Where the image cannot match Docker's (USER, HEALTHCHECK, values only the base image knows...),
the converter's notes are reported as build warnings, positioned in the Dockerfile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from defkit.engine.context import BuildStarted, Event, Notice, ProgressCallback, Warning
from defkit.errors import BuildError, DefkitError, UsageError

#: What `defkit build SOURCE` takes for a Dockerfile: `Dockerfile`, `Containerfile`,
#: `app.Dockerfile`, `Dockerfile.dev` (not a `.def`).
_DOCKERFILE_NAME = re.compile(r"(dockerfile|containerfile)", re.IGNORECASE)
#: The only BuildKit frontend defkit implements (BuildKit's built-in Dockerfile frontend).
FRONTEND = "dockerfile.v0"


def is_dockerfile(path: str) -> bool:
    """True when `path` names a Dockerfile by its name (as `docker build -f` users name them);
    a directory (a sandbox to build from) never is."""
    name = os.path.basename(path)
    return (bool(_DOCKERFILE_NAME.search(name)) and not name.lower().endswith(".def")
            and not os.path.isdir(path))


def default_output(dockerfile: str) -> str:
    """`NAME.sif` beside the Dockerfile: NAME from `NAME.Dockerfile` or `Dockerfile.NAME`, else
    the name of the Dockerfile's directory (`app/Dockerfile` -> `app/app.sif`)."""
    path = os.path.abspath(dockerfile)
    name = os.path.basename(path)
    stem = _DOCKERFILE_NAME.sub("", name).strip("._-")
    if not stem:
        stem = os.path.basename(os.path.dirname(path)) or "image"
    return os.path.join(os.path.dirname(path), stem + ".sif")


@dataclass(frozen=True)
class ConvertedDockerfile:
    dockerfile: str  # absolute path
    context: str  # absolute path: where COPY/ADD sources are found
    definition: str  # the .def text the engine builds


def convert(dockerfile: str, *, context: Optional[str] = None,
            build_args: Optional[Mapping[str, str]] = None, target: Optional[str] = None,
            arch: Optional[str] = None,
            progress: Optional[ProgressCallback] = None) -> ConvertedDockerfile:
    """Convert `dockerfile` for a build; its notes go to `progress` (warnings as warnings, the
    rest as notices), each naming its Dockerfile line. Errors are positioned in the Dockerfile."""
    from defkit.convert import convert_dockerfile
    from defkit.convert.dockerignore import read_dockerignore

    path = os.path.abspath(dockerfile)
    directory = os.path.abspath(context) if context is not None else os.path.dirname(path)
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise UsageError(f"{dockerfile}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{dockerfile}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{dockerfile}: cannot read: {exc.strerror or exc}") from None
    if not os.path.isdir(directory):
        raise UsageError(f"{directory}: the build context is not a directory")
    try:
        conversion = convert_dockerfile(text, dockerfile, build_args=dict(build_args or {}),
                                        target=target, arch=arch,
                                        dockerignore=read_dockerignore(path, directory))
    except DefkitError as exc:
        if exc.path is None:
            exc.path = dockerfile
        raise
    if progress is not None:
        for note in conversion.notes:
            message = f"{dockerfile}:{note.line}:{note.column}: {note.message}"
            progress(Warning(message) if note.severity == "warning" else Notice(message))
    return ConvertedDockerfile(path, directory, conversion.text)


def build_dockerfile(dockerfile: str, *, context: Optional[str] = None,
                     target: Optional[str] = None, build_args: Optional[Mapping[str, str]] = None,
                     arch: Optional[str] = None, output: Optional[str] = None,
                     sandbox: Optional[str] = None, source_date_epoch: Optional[int] = None,
                     progress: Optional[ProgressCallback] = None, **options: Any) -> Any:
    """`defkit build Dockerfile`: convert, then build the .def with the native engine (and its
    build cache). The image embeds the converted .def; the build args are the Dockerfile's
    ARGs (given to the converter, which keeps them as the .def's `%arguments`)."""
    from defkit.engine import reproducible
    from defkit.engine.context import ignore_event
    from defkit.engine.engine import build

    emit = progress or ignore_event
    converted = convert(dockerfile, context=context, build_args=build_args, target=target,
                        arch=arch, progress=emit)
    if output is None and sandbox is None:
        output = default_output(dockerfile)
    if source_date_epoch is None:
        source_date_epoch = reproducible.source_date_epoch(converted.dockerfile)
    with _definition_file(converted, options.get("workdir")) as def_path:

        def relay(event: Event) -> None:
            # The build's first line names the Dockerfile, not the temporary .def.
            if isinstance(event, BuildStarted) and event.def_path == def_path:
                event = dataclasses.replace(event, def_path=converted.dockerfile)
            emit(event)

        try:
            return build(def_path, output=output, sandbox=sandbox, arch=arch,
                         source_date_epoch=source_date_epoch, context_dir=converted.context,
                         progress=relay, **options)
        except DefkitError as exc:
            raise _in_dockerfile(exc, def_path, dockerfile) from None


@contextlib.contextmanager
def _definition_file(converted: ConvertedDockerfile, workdir: Optional[str]) -> Iterator[str]:
    """The converted .def in a private temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix=".defkit-dockerfile-", dir=workdir)
    try:
        path = os.path.join(directory, os.path.basename(converted.dockerfile) + ".def")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(converted.definition)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _in_dockerfile(exc: DefkitError, def_path: str, dockerfile: str) -> DefkitError:
    """An error the engine placed in the temporary .def, said of the Dockerfile instead (the
    converted .def's lines are not the Dockerfile's: `defkit convert` shows them)."""
    if exc.path == def_path:
        where = f" (line {exc.span.line} of the converted .def)" if exc.span else ""
        exc.path, exc.span = dockerfile, None
        exc.message = f"{exc.message}{where}"
    return exc


def stage_options(stage_header: Mapping[str, str]) -> dict[str, Any]:
    """The `Bootstrap: dockerfile` header keys as Apptainer 1.5 reads them: `Target`, `Frontend`
    (only BuildKit's Dockerfile frontend), `Filename` (default `Dockerfile`, in the context),
    `BuildArgs` (space-separated `KEY=VALUE`)."""
    frontend = (stage_header.get("frontend") or "").strip() or FRONTEND
    if frontend != FRONTEND:
        raise BuildError(f"Frontend: {frontend}: defkit builds Dockerfiles itself and knows only "
                         f"BuildKit's {FRONTEND} (the Dockerfile syntax)")
    args: dict[str, str] = {}
    for pair in (stage_header.get("buildargs") or "").split():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BuildError(f"BuildArgs: {pair!r} is not KEY=VALUE")
        args[key] = value
    return {"target": (stage_header.get("target") or "").strip() or None,
            "filename": (stage_header.get("filename") or "").strip() or "Dockerfile",
            "build_args": args}


__all__ = ["ConvertedDockerfile", "build_dockerfile", "convert", "default_output",
           "is_dockerfile", "stage_options"]
