"""Checks for a section written twice in one stage.

## What it does
Reports the second and later occurrences of a section (`%post`, `%environment`, `%apprun foo`, ...)
within one stage. `%files` is not reported: several `%files` sections with different arguments
(`from stage`) are normal.

## Why it matters
Apptainer concatenates the bodies and lets the last non-empty arguments win, so
`%post -c /bin/bash` followed by a plain `%post` runs both bodies under bash, and readers easily
miss the second part.

## Example
```
%post
    apt-get update
%environment
    export LC_ALL=C
%post
    apt-get install -y git
```

## Use instead
```
%post
    apt-get update
    apt-get install -y git
%environment
    export LC_ALL=C
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK107"
NAME = "duplicate-section"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        first_line: dict[tuple[str, Optional[str]], int] = {}
        for section in stage.sections:
            if not section.is_known or section.name in ("files", "appfiles"):
                continue
            key = (section.name, section.app)
            if key in first_line:
                yield Problem(
                    section.header_span,
                    f"{section.display_name} already appears on line {first_line[key]}; "
                    "the bodies are concatenated",
                )
            else:
                first_line[key] = section.header_span.line
