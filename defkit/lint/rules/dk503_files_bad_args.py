"""Checks the arguments of `%files` lines.

## What it does
Reports a `%files` section line whose arguments are neither empty nor exactly `from NAME`
(`%files from`, `%files from a b`, `%files stage1`, or any first word other than `from`).

## Why it matters
Apptainer silently ignores a `%files` section with any other number of words, so nothing is
copied; with two words it copies from the stage named by the second word whatever the first
says.

## Default severity
`error`: Apptainer rejects these `%files` arguments; the build fails.

## Example
```
%files build
    /src/app /usr/local/bin/app
```

## Use instead
```
%files from build
    /src/app /usr/local/bin/app
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import section_args, sections
from defkit.model import Span

CODE = "DK503"
NAME = "files-bad-args"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    lines = ctx.lines
    for _, section in sections(ctx.deffile, "files"):
        args = section_args(section)
        words = args.split()
        if not words or "{{" in args:
            continue
        if len(words) == 2 and words[0] == "from":
            continue
        line = section.header_span.line
        text = lines[line - 1]
        start = text.find(words[0], text.find("%") + 1 + len(section.name)) + 1
        end = text.rfind(words[-1]) + 1 + len(words[-1])
        if len(words) == 2:
            message = f"write `from {words[1]}`: the first word is not checked, but means `from`"
        else:
            message = (
                "`%files` takes no arguments or `from <stage>`; Apptainer ignores this section"
            )
        yield Problem(Span(line, start, line, end), message)
