"""Checks for text after a section name that Apptainer throws away.

## What it does
Reports text on the `%help`, `%labels`, `%environment` or `%arguments` line itself, after the
section name.

## Why it matters
For these sections Apptainer stores that text as arguments and ignores it: `%help Runs the tool`
loses the sentence, since help starts on the next line.

## Default severity
`warning`: the arguments are silently ignored, so the file does not do what it says.

## Example
```
%help This container runs samtools.
```

## Use instead
```
%help
    This container runs samtools.
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK109"
NAME = "section-args-ignored"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_ARGS_IGNORED = ("help", "labels", "environment", "arguments")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            text = section.args.strip()
            if section.name not in _ARGS_IGNORED or not text or text.startswith("#"):
                continue
            line = section.header_span.line
            source = ctx.lines[line - 1]
            start = source.find(text, source.find("%") + 1 + len(section.name))
            span = Span(line, start + 1, line, start + 1 + len(text))
            yield Problem(span, f"text after `%{section.name}` is ignored by Apptainer")
