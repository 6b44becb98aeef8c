"""Checks for `{{ NAME }}` placeholders without a default in the stage's `%arguments`.

## What it does
Reports a placeholder whose name has no `NAME=default` line in the `%arguments` of the same
stage. Placeholders Apptainer treats as commented out (a `#` before them on the line) are skipped.

## Why it matters
Unless every build passes `--build-arg NAME=...`, the build stops with `build var NAME is not
defined through either --build-arg (--build-arg-file) or 'arguments' section`. Defaults do not
carry over between stages: stage 2 cannot use stage 1's `%arguments`.

## Default severity
`warning`: the placeholder is left in the file or the build stops asking for a value.

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


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        defaults = arguments_map(stage.script("arguments"))
        reported: set[str] = set()
        for name, span in placeholders(stage):
            if name in defaults or name in reported:
                continue
            reported.add(name)
            yield Problem(
                span,
                f"`{name}` has no default in this stage's %arguments; the build needs "
                f"--build-arg {name}=...",
            )
