"""Checks for `%labels` lines written as `KEY=value`.

## What it does
Reports label lines that use `=` between key and value (`VERSION=1.0`, `VERSION = 1.0`).

## Why it matters
Apptainer splits a label line at the first space only: `VERSION=1.0` becomes a key
`VERSION=1.0` with an empty value, and `VERSION = 1.0` a value `= 1.0`.

## Default severity
`warning`: Apptainer keeps the `=` in the key, so the label is not the one meant.

## Example
```
%labels
    VERSION=1.0
```

## Use instead
```
%labels
    VERSION 1.0
```

## Fix
Replaces the `=` (and the spaces around it) with one space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import Span

CODE = "DK404"
NAME = "label-key-equals"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = True

_KEY_EQUALS = re.compile(r"[^\s=]+(\s*=\s*)")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    lines = ctx.lines
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            for label in section.labels:
                if "=" not in label.key and not label.value.startswith("="):
                    continue
                line = label.span.line
                match = _KEY_EQUALS.match(lines[line - 1], label.span.column - 1)
                if match is None or ":" in match.group(0):
                    continue
                start, end = match.span(1)
                at = Span(line, start + 1, line, end + 1)
                yield Problem(
                    at,
                    "`=` does not separate a label key from its value; Apptainer splits at a space",
                    Fix("Use a space", (Edit(at, " "),)),
                )
