"""`Bootstrap: dockerfile` (alias `buildkit`), Apptainer 1.5's agent, without BuildKit.

Header keys as Apptainer reads them: `From` is the build context (a directory that must exist;
relative paths from the def file's directory, as defkit's other local agents take them),
`Filename` the Dockerfile in it (default `Dockerfile`), `Target` the stage to build, `Frontend`
(only BuildKit's `dockerfile.v0`), `BuildArgs` space-separated `KEY=VALUE` pairs. The Dockerfile
is converted and built by defkit's engine into a sandbox (`defkit.engine.dockerfile`), which
becomes this stage's rootfs; the stage's own sections then run on it as on any base.
"""

from __future__ import annotations

import os

from defkit.engine import layout
from defkit.engine.agents.base import BootstrapResult, require_keys, resolve_from
from defkit.engine.context import (
    BuildContext,
    BuildFinished,
    BuildStarted,
    Event,
    StageStarted,
)
from defkit.engine.dockerfile import build_dockerfile, stage_options
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def _header(stage: Stage) -> dict[str, str]:
    return {key: stage.header_value(key) or "" for key in ("target", "frontend", "filename",
                                                            "buildargs")}


def check(stage: Stage, ctx: BuildContext) -> None:
    agent = stage.bootstrap or "dockerfile"
    require_keys(stage, agent, REQUIRED_KEYS)
    context = resolve_from(stage, ctx)
    if not os.path.isdir(context):
        raise BuildError(f"Bootstrap: {agent}: the build context {context} is not a directory")
    dockerfile = os.path.join(context, stage_options(_header(stage))["filename"])
    if not os.path.isfile(dockerfile):
        raise BuildError(f"Bootstrap: {agent}: no Dockerfile at {dockerfile} (see Filename:)")


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    context = resolve_from(stage, ctx)
    options = stage_options(_header(stage))
    # Beside the stage's rootfs (stage-N/), so that it is renamed into place, never copied.
    sandbox = os.path.join(os.path.dirname(rootfs), "dockerfile-rootfs")

    def relay(event: Event) -> None:
        # The inner build's start, stage and end lines would read as this build's own.
        if not isinstance(event, (BuildStarted, StageStarted, BuildFinished)):
            ctx.emit(event)

    build_dockerfile(os.path.join(context, options["filename"]), context=context,
                     target=options["target"], build_args=options["build_args"], arch=ctx.arch,
                     sandbox=sandbox, source_date_epoch=ctx.source_date_epoch, mode=ctx.mode,
                     workdir=ctx.build_dir, force=True, progress=relay, runner=ctx.runner)
    # The sandbox is this stage's rootfs (same file system: a rename, nothing copied).
    os.rmdir(rootfs)
    os.rename(sandbox, rootfs)
    layout.make_base_env(rootfs, overwrite=False)
    warnings: tuple[str, ...] = ()
    if ctx.mode == "fakeroot":
        warnings = ("Bootstrap: dockerfile under fakeroot: ownership the Dockerfile sets "
                    "(chown, COPY --chown) is not kept in this stage's base",)
    return BootstrapResult(warnings=warnings)
