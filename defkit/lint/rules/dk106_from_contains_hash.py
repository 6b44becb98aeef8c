"""Checks for a `#` inside a `From:` value.

## What it does
Reports a `#` written inside a `From:` value (directly after other characters, as in
`image:tag#variant`). A `#` after a space is an ordinary comment and is not reported.

## Why it matters
Apptainer cuts every header line at the first `#`, with no regard to quoting, so
`From: registry/image:tag#variant` pulls `registry/image:tag`: a different image than written.

## Default severity
`error`: Apptainer reads `#` as the start of a comment, so the reference is cut and the wrong
image (or none) is pulled.

## Example
```
Bootstrap: docker
From: myregistry.example/tools#2024
```

## Use instead
```
Bootstrap: docker
From: myregistry.example/tools:2024
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK106"
NAME = "from-contains-hash"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    lines = ctx.lines
    for stage in ctx.deffile.stages:
        for entry in stage.header:
            if entry.key != "from":
                continue
            for line_number in range(entry.span.line, entry.span.end_line + 1):
                text = lines[line_number - 1]
                start = entry.value_span.column - 1 if line_number == entry.span.line else 0
                hash_at = text.find("#", start)
                if hash_at <= start or text[hash_at - 1] in " \t":
                    continue  # no `#`, or an ordinary comment after the value
                span = Span(line_number, hash_at + 1, line_number, len(text.rstrip("\r")) + 1)
                yield Problem(
                    span,
                    f"`#` cuts the header line here: Apptainer uses `{entry.value}`",
                )
