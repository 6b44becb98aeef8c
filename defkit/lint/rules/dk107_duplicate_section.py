"""Checks for a section written twice in one stage.

## What it does
Reports the second and later occurrences of a section (`%post`, `%environment`, `%apprun foo`, ...)
within one stage. `%files` is not reported: several `%files` sections with different arguments
(`from stage`) are normal.

## Why it matters
Apptainer concatenates the bodies and lets the last non-empty arguments win, so
`%post -c /bin/bash` followed by a plain `%post` runs both bodies under bash, and readers easily
miss the second part.

## Default severity
`info`: Apptainer appends repeated sections, so the build works; it is only harder to read.

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

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import repeats

CODE = "DK107"
NAME = "duplicate-section"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        checked = [
            section
            for section in stage.sections
            if section.is_known and section.name not in ("files", "appfiles")
        ]
        for section, first in repeats(
            checked,
            lambda section: (section.name, section.app),
            lambda section: section.header_span.line,
        ):
            yield Problem(
                section.header_span,
                f"{section.display_name} already appears on line {first}; "
                "the bodies are concatenated",
            )
