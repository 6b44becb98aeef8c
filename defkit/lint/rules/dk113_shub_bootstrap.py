"""Checks for `Bootstrap: shub`, the agent of Singularity Hub, which no longer serves images.

## What it does
Reports a stage whose `Bootstrap:` is `shub`.

## Why it matters
Singularity Hub was retired in 2021 and its archive went read-only, then offline: `shub://`
references no longer resolve, so the build fails when it pulls the base. The same images are
usually published on Docker Hub, GitHub Container Registry or a Sylabs library.

## Default severity
`error`: the base cannot be pulled, so the build fails.

## Example
```
Bootstrap: shub
From: vsoch/hello-world
```

## Use instead
```
Bootstrap: docker
From: ghcr.io/apptainer/lolcow:latest
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK113"
NAME = "shub-bootstrap"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        entry = stage.header_entry("bootstrap")
        if entry is not None and entry.value.strip().lower() == "shub":
            yield Problem(
                entry.value_span,
                "Singularity Hub (shub) is retired and serves no images: pull the base from a "
                "registry that still has it (`Bootstrap: docker`, `oras` or `library`)",
            )
