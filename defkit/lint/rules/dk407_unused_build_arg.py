"""Checks for `%arguments` defaults that no placeholder of the stage uses.

## What it does
Reports a `NAME=default` line in `%arguments` when no `{{ NAME }}` of the same stage uses it.

## Why it matters
Usually a typo in the placeholder or the argument name, or a leftover after a refactoring.
Defaults belong to their stage: a placeholder in another stage does not see them.

## Default severity
`info`: an unused argument does no harm; it is only dead text.

## Example
```
Bootstrap: docker
From: ubuntu:22.04

%arguments
    VERSION=1.2

%post
    echo {{ VERSOIN }}
```

## Use instead
```
%arguments
    VERSION=1.2

%post
    echo {{ VERSION }}
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import placeholders, span_start

CODE = "DK407"
NAME = "unused-build-arg"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        used = {name for name, _ in placeholders(stage)}
        for section in stage.sections_named("arguments"):
            for argument in section.arguments:
                if argument.name not in used:
                    yield Problem(
                        span_start(argument.span, len(argument.name)),
                        f"build argument `{argument.name}` is never used in this stage",
                    )
