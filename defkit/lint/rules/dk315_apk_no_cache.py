"""Checks that `apk add` in the final image does not keep apk's cache.

## What it does
Reports `apk add` (and `apk update`) in the final stage's `%post` without `--no-cache`, unless a
later command removes `/var/cache/apk` or runs `apk cache clean`.

## Why it matters
The package index and downloaded packages stay in `/var/cache/apk` and in the image, for no use
at run time.

## Default severity
`info`, and off by default (select it): a larger image, not a broken one (hadolint's DL3019 is
info). The image-size hints are opt-in so that a default run stays short.

## Example
```
Bootstrap: docker
From: alpine:3.20
%post
    apk update
    apk add curl
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
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import invocation, left_in_image
from defkit.lint.rules._shell import Command, Word

CODE = "DK315"
NAME = "apk-no-cache"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False


def _fills(command: Command) -> Optional[Word]:
    call = invocation(command, "apk")
    if call is None or call.has_option("--no-cache") or not call.runs("add", "update", "upgrade"):
        return None
    return call.program_word


def _cleans(command: Command) -> bool:
    call = invocation(command, "apk")
    if call is not None and call.runs("cache"):
        return any(word.value == "clean" for word in call.operands)
    return command.name == "rm" and any("/var/cache/apk" in w.value for w in command.argv)


def check(ctx: LintContext) -> Iterator[Problem]:
    last = left_in_image(ctx, _fills, _cleans)
    if last is not None:
        yield Problem(last.span, "apk's cache is left in the image; use `apk add --no-cache`")
