r"""Checks for spaces or tabs at the end of a line.

## What it does
Reports trailing spaces and tabs on any line, including lines that hold only whitespace.

## Why it matters
Invisible characters make diffs noisy and can change meaning: a space after a line-continuation
backslash ends the continuation, and trailing spaces end up in `%help` and `%labels` values.

## Default severity
`style`, and off by default (select it): invisible and harmless to the build; tidiness only
(`--fix`, or `defkit fmt`, which owns the layout). On by default it printed 456 lines over 124
of 343 real recipes.

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
Deletes the trailing whitespace, except inside heredocs, whose text is written as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.lint.rules._shell import all_script_sections, heredoc_lines
from defkit.model import Span

CODE = "DK110"
NAME = "trailing-whitespace"
SEVERITY: Severity = "style"
ENABLED_BY_DEFAULT = False  # layout is `defkit fmt`'s job: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = True


def check(ctx: LintContext) -> Iterator[Problem]:
    data_lines: set[int] = set()
    for section in all_script_sections(ctx.deffile) if ctx.deffile else ():
        data_lines |= heredoc_lines(section)
    for number, line in enumerate(ctx.lines, start=1):
        text = line[:-1] if line.endswith("\r") else line
        stripped = text.rstrip(" \t")
        if len(stripped) == len(text):
            continue
        span = Span(number, len(stripped) + 1, number, len(text) + 1)
        if number in data_lines:  # what a heredoc writes may need its spaces: no automatic fix
            yield Problem(span, "trailing whitespace (in a heredoc)")
        else:
            fix = Fix("Remove trailing whitespace", (Edit(span, ""),))
            yield Problem(span, "trailing whitespace", fix)
