"""Checks that the image has a `%runscript` section.

## What it does
Reports a definition file whose final stage (the one that becomes the image) has no `%runscript`.

## Why it matters
`apptainer run` falls back to the base image's entry point (for Docker bases) or prints that
there is no runscript, so users must know what to `exec`.

## Default severity
`info`, and off by default (select it): `apptainer run` of the image does nothing useful, but
many images are used with `exec` only (201 of 343 real recipes have no `%runscript`), as
`missing-help` and `missing-labels`.

## Example
```
Bootstrap: docker
From: python:3.12-slim

%post
    pip install --no-cache-dir myapp==1.0
```

## Use instead
```
Bootstrap: docker
From: python:3.12-slim

%post
    pip install --no-cache-dir myapp==1.0

%runscript
    exec python3 -m myapp "$@"
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import missing_section

CODE = "DK601"
NAME = "missing-runscript"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # many images are exec-only: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    yield from missing_section(ctx.deffile, "runscript")
