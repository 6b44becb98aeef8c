"""Checks for a label key set twice in one stage.

## What it does
Reports a `%labels` key that an earlier line of the same stage already set.

## Why it matters
The last value wins silently; usually one of the two lines is outdated.

## Default severity
`warning`: only one of the values survives; the other is lost without a word.

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
from defkit.lint.rules._common import repeats, span_start

CODE = "DK405"
NAME = "duplicate-label"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        labels = [(section.app, label) for section in stage.sections for label in section.labels]
        for (_, label), first in repeats(
            labels, lambda item: (item[0], item[1].key), lambda item: item[1].span.line
        ):
            yield Problem(
                span_start(label.span, len(label.key)),
                f"label `{label.key}` is already set on line {first}",
            )
