"""Checks that stage names are unique.

## What it does
Reports a `Stage:` name already used by an earlier stage of the same file.

## Why it matters
`%files from NAME` copies from the first stage with that name, so the later stage can never be
the source of a copy, and readers cannot tell which one is meant.

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

CODE = "DK105"
NAME = "duplicate-stage-name"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    first_line: dict[str, int] = {}
    for stage in ctx.deffile.stages:
        entry = stage.header_entry("stage")
        if entry is None or not entry.value:
            continue
        if entry.value in first_line:
            yield Problem(
                entry.value_span,
                f"stage name `{entry.value}` is already used on line {first_line[entry.value]}",
            )
        else:
            first_line[entry.value] = entry.span.line
