"""Checks for sections with nothing in them.

## What it does
Reports a section whose body is empty or holds only blank lines and comments.

## Why it matters
An empty section does nothing but suggests otherwise; an empty `%runscript` even replaces the
base image's default runscript with one that does nothing. Often it is a leftover of a template.

## Default severity
`style`: an empty section does nothing; tidiness, not a defect.

## Example
```
Bootstrap: docker
From: alpine:3.20

%environment

%post
    apk add --no-cache curl
```

## Use instead
```
Bootstrap: docker
From: alpine:3.20

%post
    apk add --no-cache curl
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import section_name_span

CODE = "DK108"
NAME = "empty-section"
SEVERITY: Severity = "style"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if not section.is_known:
                continue
            lines = (line.strip() for line in section.body.split("\n"))
            if all(not line or line.startswith("#") for line in lines):
                yield Problem(section_name_span(section), f"{section.display_name} is empty")
