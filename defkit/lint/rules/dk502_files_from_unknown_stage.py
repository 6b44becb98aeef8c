"""Checks that `%files from NAME` names a stage of the file.

## What it does
Reports `%files from NAME` when no stage has `Stage: NAME`, with a did-you-mean, and copies from
the stage itself.

## Why it matters
The build fails with `stage NAME was not found` after the earlier stages were built; a stage
cannot copy from itself.

## Default severity
`error`: Apptainer stops at `%files from` an unknown stage; the build fails.

## Example
```
Bootstrap: docker
From: golang:1.22
Stage: build

Bootstrap: docker
From: debian:12
%files from builder
    /src/app /usr/local/bin/app
```

## Use instead
```
%files from build
    /src/app /usr/local/bin/app
```
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import last_arg_span, section_args, sections

CODE = "DK502"
NAME = "files-from-unknown-stage"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    names = [stage.name for stage in ctx.deffile.stages if stage.name]
    lines = ctx.lines
    for stage, section in sections(ctx.deffile, "files"):
        words = section_args(section).split()
        if len(words) != 2 or "{{" in section.args:
            continue
        wanted = words[1]
        span = last_arg_span(lines, section, wanted)
        if wanted == stage.name:
            yield Problem(span, f"stage `{wanted}` cannot copy files from itself")
        elif wanted not in names:
            close = difflib.get_close_matches(wanted, names, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            yield Problem(span, f"no stage is named `{wanted}`{hint}")
