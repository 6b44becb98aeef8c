"""Checks that `yum`/`dnf` installs in the final image are followed by a cache clean-up.

## What it does
Reports the last `yum`, `dnf` or `microdnf` `install`/`update`/`upgrade`/`groupinstall` in the
final stage's `%post` when no later `yum clean all` (`dnf`/`microdnf clean all`) or
`rm -rf /var/cache/yum` (`/var/cache/dnf`) follows.

## Why it matters
Repository metadata and downloaded packages (often hundreds of MB) stay in `/var/cache` and in
the image.

## Default severity
`info`, and off by default (select it): a larger image, not a broken one (as hadolint's DL3032).
The image-size hints are opt-in so that a default run stays short.

## Example
```
%post
    dnf install -y gcc make
```

## Use instead
```
%post
    dnf install -y gcc make
    dnf clean all
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import invocation, left_in_image
from defkit.lint.rules._shell import Command, Word

CODE = "DK316"
NAME = "yum-cache-not-cleaned"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False

_MANAGERS = ("yum", "dnf", "microdnf")
_FILLING = frozenset({"install", "update", "upgrade", "groupinstall", "localinstall", "reinstall"})


def _fills(command: Command) -> Optional[Word]:
    call = invocation(command, *_MANAGERS)
    if call is not None and call.runs(*_FILLING):
        return call.program_word
    return None


def _cleans(command: Command) -> bool:
    call = invocation(command, *_MANAGERS)
    if call is not None and call.runs("clean"):
        return any(word.value in ("all", "packages") for word in call.operands)
    return command.name == "rm" and any(
        "/var/cache/yum" in word.value or "/var/cache/dnf" in word.value for word in command.argv
    )


def check(ctx: LintContext) -> Iterator[Problem]:
    last = left_in_image(ctx, _fills, _cleans)
    if last is not None:
        yield Problem(
            last.span, f"`{last.value}`'s cache is left in the image; add `{last.value} clean all`"
        )
