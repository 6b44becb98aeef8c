"""Checks for `%setup` commands that write to absolute host paths.

## What it does
Reports `mkdir`, `touch`, `cp`, `mv`, `ln`, `rm`, `install`, `tee`, `chmod`, `chown` targets and
`>`/`>>` redirections in `%setup` that are absolute paths not under `$APPTAINER_ROOTFS` (or
`$SINGULARITY_ROOTFS`). `/tmp`, `/dev` and templated paths are not reported.

## Why it matters
`%setup` runs on the build host, not in the container. `mkdir /opt/app` creates the directory
on your machine (or fails without root), and the image does not get it.

## Default severity
`warning`: %setup runs on the build host, so these paths change the host instead of the image.

## Example
```
%setup
    mkdir -p /opt/data
```

## Use instead
```
%setup
    mkdir -p "${APPTAINER_ROOTFS}/opt/data"
```
or do it in `%post`.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import sections
from defkit.lint.rules._shell import Command, Word

CODE = "DK314"
NAME = "setup-without-rootfs"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_ALL_OPERANDS = frozenset({"mkdir", "touch", "rm", "tee"})
_AFTER_FIRST = frozenset({"chmod", "chown", "chgrp"})
_LAST_OPERAND = frozenset({"cp", "mv", "ln", "install", "rsync"})
_HOST_SCRATCH = ("/tmp", "/dev/", "/var/tmp")


def _targets(command: Command) -> list[Word]:
    name = command.name
    operands = [word for word in command.argv[1:] if not word.value.startswith("-")]
    if name in _ALL_OPERANDS:
        targets = operands
    elif name in _AFTER_FIRST:
        targets = operands[1:]
    elif name in _LAST_OPERAND:
        targets = operands[-1:] if len(operands) > 1 else []
    else:
        targets = []
    redirected = [word for op, word in command.redirects if op in (">", ">>") and word is not None]
    return targets + redirected


def check(ctx: LintContext) -> Iterator[Problem]:
    for _, section in sections(ctx.deffile, "setup"):
        for command in ctx.commands(section):
            for word in _targets(command):
                path = word.value
                if not path.startswith("/") or path.startswith(_HOST_SCRATCH) or "{{" in path:
                    continue
                yield Problem(
                    word.span,
                    f"%setup runs on the host: `{path}` is outside the container; "
                    "prefix it with $APPTAINER_ROOTFS",
                )
