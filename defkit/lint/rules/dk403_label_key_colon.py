"""Checks for `%labels` lines written as `Key: value`.

## What it does
Reports label keys that contain a colon: `Author: Jane` (the key becomes `Author:`) and
`Author:Jane` (the key becomes `Author:Jane` with an empty value).

## Why it matters
Apptainer splits a label line at the first space only, so the colon stays in the key:
`apptainer inspect` shows `Author:` and tools looking for `Author` do not find it.

## Default severity
`warning`: Apptainer keeps the colon in the key, so the label is not the one meant.

## Example
```
%labels
    Author: Jane Doe
```

## Use instead
```
%labels
    Author Jane Doe
```

## Fix
Removes the colon (or turns `Key:value` into `Key value`).
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import Span

CODE = "DK403"
NAME = "label-key-colon"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = True


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            for label in section.labels:
                colon = label.key.find(":")
                if colon < 0 or "://" in label.key:
                    continue
                start = label.span.column
                at = Span(label.span.line, start + colon, label.span.line, start + colon + 1)
                trailing = colon == len(label.key) - 1
                fix = Fix(
                    "Remove the colon" if trailing else "Separate key and value with a space",
                    (Edit(at, "" if trailing else " "),),
                )
                yield Problem(at, "Apptainer keeps this colon in the label key", fix)
