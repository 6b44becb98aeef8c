"""Checks that the final image does not keep apt's package lists.

## What it does
Reports, in the final stage, the last `apt-get update`/`install` of the build scripts when no
`rm -rf /var/lib/apt/lists/*` comes after it. Earlier stages are not checked: they do not end
up in the image.

## Why it matters
The lists downloaded by `apt-get update` (tens of MB) stay in the image, and are stale anyway by
the time anyone runs it.

## Default severity
`info`, and off by default (select it): a larger image, not a broken one (hadolint's DL3009 is
info). The image-size hints are opt-in so that a default run stays short: this one alone fired
on 147 of 343 real recipes.

## Example
```
%post
    apt-get update
    apt-get install -y --no-install-recommends curl
```

## Use instead
```
%post
    apt-get update
    apt-get install -y --no-install-recommends curl
    rm -rf /var/lib/apt/lists/*
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import invocation, left_in_image
from defkit.lint.rules._shell import Command, Word

CODE = "DK304"
NAME = "apt-lists-not-cleaned"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False


def _fills(command: Command) -> Optional[Word]:
    call = invocation(command, "apt-get", "apt")
    sub = call.subcommand if call is not None else None
    return call.program_word if call and sub and sub.value in ("update", "install") else None


def _cleans(command: Command) -> bool:
    return command.name == "rm" and any("/var/lib/apt/lists" in w.value for w in command.argv)


def check(ctx: LintContext) -> Iterator[Problem]:
    last = left_in_image(ctx, _fills, _cleans)
    if last is not None:
        yield Problem(last.span, "apt lists are left in the image; remove /var/lib/apt/lists/*")
