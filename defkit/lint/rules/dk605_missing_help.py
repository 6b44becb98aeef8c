"""Checks that the image has a `%help` section.

## What it does
Reports a definition file whose final stage (the one that becomes the image) has no `%help`.

## Why it matters
`apptainer run-help` is how users learn what an image does, which arguments it takes and what
it expects to be bound; without `%help` they have to read the definition file.

## Default severity
`info`, and off by default (select it): `apptainer run-help` shows nothing, which real recipes
rarely care about.

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

%help
    Runs myapp. Usage: apptainer run myapp.sif [options]
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import missing_section

CODE = "DK605"
NAME = "missing-help"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
ENABLED_BY_DEFAULT = False  # `apptainer run-help` shows nothing: opt in with `select`
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    yield from missing_section(ctx.deffile, "help")
