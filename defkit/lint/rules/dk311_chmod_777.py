"""Checks for files made writable by everyone.

## What it does
Reports `chmod` with a mode that gives write permission to others: `777`, `666`, `0777`,
`a+rwx`, `o+w`, `ugo+rw` and the like. Modes with the sticky bit (`1777`, as for `/tmp`) are
not reported, nor are `/tmp`, `/var/tmp` and `/dev/shm`.

## Why it matters
In a writable sandbox or overlay any user can then change programs and libraries in the image;
`777` is usually a workaround for an ownership problem that has a proper fix.

## Default severity
`info`: a SIF image is read-only when it runs, so world-writable bits give nobody write access
there (and do not make a cache directory writable either); they matter in a `--sandbox` or with
an overlay. Worth knowing, not worth failing a build for.

## Example
```
%post
    chmod -R 777 /opt/app
```

## Use instead
```
%post
    chmod -R a+rX,go-w /opt/app
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import all_script_sections

CODE = "DK311"
NAME = "chmod-777"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_NUMERIC = re.compile(r"[0-7]{3,4}$")
#: A clause giving write permission (`a+w`, `o=rwx`); who it gives it to is checked apart, as
#: `[ugo]*[ao][ugo]*` backtracks in time quadratic in a long run of `o`.
_SYMBOLIC_WRITE = re.compile(r"(?:^|,)([ugoa]*)[+=][rxXst]*w")

_SHARED_SCRATCH = frozenset({"/tmp", "/var/tmp", "/dev/shm"})


def _world_writable(mode: str) -> bool:
    if _NUMERIC.match(mode):
        if len(mode) == 4 and int(mode[0]) & 1:
            return False  # sticky bit: a shared directory like /tmp, on purpose
        return int(mode[-1]) & 2 != 0
    return any(_to_others(match.group(1)) for match in _SYMBOLIC_WRITE.finditer(mode))


def _to_others(who: str) -> bool:
    """Whether `who` reads as `[ugo]*[ao][ugo]*`: one `a`, or no `a` and an `o`."""
    alls = who.count("a")
    return alls == 1 or (alls == 0 and "o" in who)


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for section in all_script_sections(ctx.deffile):
        for command in ctx.commands(section):
            if command.name != "chmod":
                continue
            operands = [word for word in command.argv[1:] if not word.value.startswith("-")]
            if all(word.value.rstrip("/") in _SHARED_SCRATCH for word in operands[1:]):
                continue  # /tmp and friends are meant to be writable by everyone
            if operands and _world_writable(operands[0].value):
                yield Problem(
                    operands[0].span, f"`chmod {operands[0].value}` makes files world-writable"
                )
