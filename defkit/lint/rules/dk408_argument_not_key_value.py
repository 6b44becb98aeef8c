"""Checks for `%arguments` lines that are not `NAME=value`.

## What it does
Reports lines of `%arguments` that have no `=` or nothing before it.

## Why it matters
Apptainer skips such lines with a warning (`Skipping ... not a key=value pair`), so the default
you meant to give does not exist and the build fails later with an undefined build var.

## Default severity
`warning`: Apptainer ignores the line, so the argument has no default.

## Example
```
%arguments
    VERSION 1.2
```

## Use instead
```
%arguments
    VERSION=1.2
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import sections
from defkit.lint.rules._shell import body_lines
from defkit.model import Span

CODE = "DK408"
NAME = "argument-not-key-value"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    for _, section in sections(ctx.deffile, "arguments"):
        for line, column, text in body_lines(section):
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            key = stripped.split("=", 1)[0].strip()
            if "=" in stripped and key:
                continue
            start = column + len(text) - len(text.lstrip())
            yield Problem(
                Span(line, start, line, start + len(stripped)),
                "not a `NAME=value` line; Apptainer skips it",
            )
