"""Checks for a label key set twice in one stage.

## What it does
Reports a `%labels` key that an earlier line of the same stage already set.

## Why it matters
The last value wins silently; usually one of the two lines is outdated.

## Example
```
%labels
    Version 1.0
    Author Jane
    Version 1.1
```

## Use instead
```
%labels
    Version 1.1
    Author Jane
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK405"
NAME = "duplicate-label"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        first_line: dict[tuple[object, str], int] = {}
        for section in stage.sections:
            for label in section.labels:
                key = (section.app, label.key)
                if key in first_line:
                    start = label.span
                    at = Span(start.line, start.column, start.line, start.column + len(label.key))
                    yield Problem(
                        at, f"label `{label.key}` is already set on line {first_line[key]}"
                    )
                else:
                    first_line[key] = label.span.line
