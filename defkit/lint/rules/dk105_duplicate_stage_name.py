"""Checks that stage names are unique.

## What it does
Reports a `Stage:` name already used by an earlier stage of the same file.

## Why it matters
`%files from NAME` copies from the first stage with that name, so the later stage can never be
the source of a copy, and readers cannot tell which one is meant.

## Default severity
`error`: Apptainer cannot tell two stages of one name apart; the build fails or copies from the
wrong stage.

## Example
```
Bootstrap: docker
From: golang:1.22
Stage: build

Bootstrap: docker
From: golang:1.22
Stage: build
```

## Use instead
```
Bootstrap: docker
From: golang:1.22
Stage: build

Bootstrap: docker
From: golang:1.22
Stage: test
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import repeats

CODE = "DK105"
NAME = "duplicate-stage-name"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    entries = [stage.header_entry("stage") for stage in ctx.deffile.stages]
    named = [entry for entry in entries if entry is not None and entry.value]
    for entry, first in repeats(named, lambda entry: entry.value, lambda entry: entry.span.line):
        yield Problem(
            entry.value_span, f"stage name `{entry.value}` is already used on line {first}"
        )
