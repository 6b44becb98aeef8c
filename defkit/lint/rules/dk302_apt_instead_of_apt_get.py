"""Checks for `apt` in scripts, where `apt-get` belongs.

## What it does
Reports `apt` used with a subcommand that `apt-get` also has (`install`, `update`, `upgrade`,
`remove`, `purge`, `autoremove`, `clean`, ...).

## Why it matters
`apt` is the interactive front end: its output format and behaviour may change between releases
and it warns "apt does not have a stable CLI interface. Use with caution in scripts." `apt-get`
is the stable interface for scripts.

## Default severity
`info`, and off by default (select it): `apt` works in scripts; it only warns that its
interface may change. Real recipes use it a lot (180 findings in 37 of 343 corpus files), so
even at info it would be noise in a default run.

## Example
```
%post
    apt update && apt install -y git
```

## Use instead
```
%post
    apt-get update && apt-get install -y git
```

## Fix
Replaces `apt` with `apt-get` where the subcommand means the same in both (not for `upgrade`,
which installs new dependencies under `apt` only, nor `full-upgrade`, `apt-get dist-upgrade`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.lint.rules._packages import script_invocations

CODE = "DK302"
NAME = "apt-instead-of-apt-get"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # works; a scripting convention: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = True

_SAME_IN_APT_GET = frozenset(
    {"install", "update", "remove", "purge", "autoremove", "clean", "autoclean", "build-dep",
     "source", "download", "check", "satisfy"}
)  # fmt: skip
_ALSO_IN_APT_GET = _SAME_IN_APT_GET | {"upgrade", "full-upgrade"}


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for call in script_invocations(ctx, "apt"):
        sub = call.subcommand
        if sub is None or sub.value not in _ALSO_IN_APT_GET:
            continue
        word = call.program_word
        fix: Optional[Fix] = None
        if sub.value in _SAME_IN_APT_GET and word.text == word.value:
            fix = Fix("Use `apt-get`", (Edit(word.span, word.text + "-get"),))
        yield Problem(word.span, "use `apt-get` in scripts; `apt` has no stable interface", fix)
