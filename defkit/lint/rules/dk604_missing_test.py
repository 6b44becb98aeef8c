"""Checks that the image has a `%test` section.

## What it does
Reports a definition file whose final stage (the one that becomes the image) has no `%test`.
On by default at `info`, which does not fail a default run (`fail-on: warning`).

## Why it matters
Nothing checks that the image works before it is shipped. `%test` runs at the end of the
build (and with `apptainer test`), so a broken install fails the build instead of the first
user's job. 91 % of public recipes have none.

## Default severity
`info`, on by default: an image nobody tested is worth knowing about, but most recipes have no
%test, so it must not fail a default run.

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


def check(ctx: LintContext) -> Iterator[Problem]:
    yield from missing_section(ctx.deffile, "test")
