"""Checks for `{{ NAME }}` placeholders without a default in the stage's `%arguments`.

## What it does
Reports a placeholder whose name has no `NAME=default` line in the `%arguments` of the same
stage. Placeholders Apptainer treats as commented out (a `#` before them on the line) are skipped.

## Why it matters
Unless every build passes `--build-arg NAME=...`, the build stops with `build var NAME is not
defined through either --build-arg (--build-arg-file) or 'arguments' section`. Defaults do not
carry over between stages: stage 2 cannot use stage 1's `%arguments`.

## Default severity
Set per finding. `warning` when another stage's `%arguments` gives the name a default: that
default does not reach this stage, so a build without `--build-arg` stops (a real mistake).
`info` when no stage gives it one: the file asks for the value by design, as a Dockerfile's
`ARG NAME` without a default does (hadolint does not report those), and the finding says how to
build it.

## Example
```
Bootstrap: docker
From: python:{{ PY_VERSION }}-slim
```

## Use instead
```
Bootstrap: docker
From: python:{{ PY_VERSION }}-slim

%arguments
    PY_VERSION=3.12
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import placeholders
from defkit.sections import arguments_map

CODE = "DK406"
NAME = "undefined-build-arg"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False
#: Each finding carries its own level (warning or info, see above).
DYNAMIC_SEVERITY = True


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    stage_defaults = [arguments_map(stage.script("arguments")) for stage in ctx.deffile.stages]
    anywhere = {name for defaults in stage_defaults for name in defaults}
    for stage, defaults in zip(ctx.deffile.stages, stage_defaults):
        reported: set[str] = set()
        for name, span in placeholders(stage):
            if name in defaults or name in reported:
                continue
            reported.add(name)
            if name in anywhere:
                yield Problem(
                    span,
                    f"`{name}` has a default in another stage's %arguments only; defaults do "
                    f"not carry over, so the build needs --build-arg {name}=...",
                    severity="warning",
                )
            else:
                yield Problem(
                    span,
                    f"`{name}` has no default in this stage's %arguments; the build needs "
                    f"--build-arg {name}=...",
                    severity="info",
                )
