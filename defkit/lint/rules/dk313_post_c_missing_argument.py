"""Checks for `-c` with nothing after it on a `%post`, `%setup` or `%pre` line.

## What it does
Reports a `%post -c`, `%setup -c` or `%pre -c` line where no shell follows `-c` (comments after
`#` do not count).

## Why it matters
The build stops with `bad post section '-c' parameter: missing arguments`.

## Default severity
`error`: Apptainer runs the section with a broken command line; the build fails.

## Example
```
%post -c
    echo hello
```

## Use instead
```
%post -c /bin/bash
    echo hello
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import last_arg_span, section_args

CODE = "DK313"
NAME = "post-c-missing-argument"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.name not in ("pre", "setup", "post"):
                continue
            words = section_args(section).split()
            if not words or words[-1] != "-c":
                continue
            yield Problem(
                last_arg_span(ctx.lines, section, "-c"),
                f"`-c` in %{section.name} needs a shell after it, such as `/bin/bash`",
            )
