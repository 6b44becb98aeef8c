"""Checks for a stage that has no `Bootstrap:` header.

## What it does
Reports every stage without a `Bootstrap:` value: a file that starts with sections or other header
keys, a `Bootstrap:` with an empty value, or header lines placed before the first `Bootstrap:` line
(Apptainer splits stages at `Bootstrap:`, so those lines form a stage of their own).

## Why it matters
The parser accepts such a file, but `apptainer build` stops with `no bootstrap specification found`
(or `multiple stages detected, all must have headers`).

## Default severity
`error`: without `Bootstrap:` Apptainer does not know how to make the image; the build fails.

## Example
```
From: ubuntu:22.04
Bootstrap: docker
```

## Use instead
```
Bootstrap: docker
From: ubuntu:22.04
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import stage_anchor

CODE = "DK101"
NAME = "missing-bootstrap"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        if stage.bootstrap:
            continue
        if stage.bootstrap is not None:
            message = "`Bootstrap:` has no value; the build fails with 'no bootstrap specification'"
        elif stage.header:
            message = (
                "stage has no `Bootstrap:` header (header lines before `Bootstrap:` form a stage "
                "of their own); the build fails"
            )
        else:
            message = "stage has no header and no `Bootstrap:`; the build fails"
        yield Problem(stage_anchor(stage), message)
