"""Checks that the file ends with a newline.

## What it does
Reports a non-empty file whose last line has no line break.

## Why it matters
Tools that concatenate or append to files (and `cat` in a terminal) run the last line into the
next text; POSIX defines a line as ending in a newline, and diffs show "No newline at end of file".

## Default severity
`style`, and off by default (select it): harmless to Apptainer; tidiness only (`--fix`, or
`defkit fmt`, which owns the layout).

## Example
```
%runscript
    exec python "$@"
```
(the file ends right after `"$@"`, with no line break).

## Use instead
```
%runscript
    exec python "$@"
```
followed by a line break.

## Fix
Appends a newline.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import Span

CODE = "DK111"
NAME = "no-final-newline"
SEVERITY: Severity = "style"
ENABLED_BY_DEFAULT = False  # layout is `defkit fmt`'s job: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = True


def check(ctx: LintContext) -> Iterator[Problem]:
    if not ctx.text or ctx.text.endswith("\n"):
        return
    lines = ctx.lines
    end = len(lines[-1]) + 1
    span = Span(len(lines), end, len(lines), end)
    yield Problem(
        span, "no newline at end of file", Fix("Add a final newline", (Edit(span, "\n"),))
    )
