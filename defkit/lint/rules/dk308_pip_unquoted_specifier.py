"""Checks for pip version specifiers the shell reads as a redirection.

## What it does
Reports `pip install name>=1.0` (or `<`, `<=`, `>`) written without quotes.

## Why it matters
The shell sees `>` as a redirection: it runs `pip install name`, installing any version, and
writes pip's output to a file called `=1.0`. The build succeeds with the wrong version.

## Default severity
`error`: the shell reads `>` as a redirection: the wrong version is installed and a stray file
is written.

## Example
```
%post
    pip install numpy>=1.24
```

## Use instead
```
%post
    pip install "numpy>=1.24"
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import script_invocations

CODE = "DK308"
NAME = "pip-unquoted-specifier"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for call in script_invocations(ctx, "pip"):
        if not call.runs("install"):
            continue
        for operator, target in call.command.redirects:
            if target is None or operator not in (">", "<", ">>"):
                continue
            if target.value[:1] == "=" or target.value[:1].isdigit():
                yield Problem(
                    target.span,
                    f"unquoted `{operator}{target.value}` is a redirection, not a version; "
                    "quote the requirement",
                )
