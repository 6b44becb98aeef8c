r"""Checks for spaces or tabs at the end of a line.

## What it does
Reports trailing spaces and tabs on any line, including lines that hold only whitespace.

## Why it matters
Invisible characters make diffs noisy and can change meaning: a space after a line-continuation
backslash ends the continuation, and trailing spaces end up in `%help` and `%labels` values.

## Example
```
%post
    apt-get update &&\·
        apt-get install -y curl
```
(`·` marks a trailing space.)

## Use instead
```
%post
    apt-get update &&\
        apt-get install -y curl
```
Most editors can remove trailing whitespace on save.

## Fix
Deletes the trailing whitespace.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import Span

CODE = "DK110"
NAME = "trailing-whitespace"
SEVERITY: Severity = "style"
OPTIONS: dict[str, object] = {}
FIXABLE = True


def check(ctx: LintContext) -> Iterator[Problem]:
    for number, line in enumerate(ctx.lines, start=1):
        text = line[:-1] if line.endswith("\r") else line
        stripped = text.rstrip(" \t")
        if len(stripped) == len(text):
            continue
        span = Span(number, len(stripped) + 1, number, len(text) + 1)
        yield Problem(
            span, "trailing whitespace", Fix("Remove trailing whitespace", (Edit(span, ""),))
        )
