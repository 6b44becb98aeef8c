"""Checks that `apt-get install` and friends run without asking for confirmation.

## What it does
Reports `apt-get` or `apt` `install`, `upgrade`, `dist-upgrade`, `full-upgrade`, `remove`,
`purge`, `autoremove`, `build-dep` and `reinstall` without `-y`/`--yes`/`--assume-yes` (or
`-qq`), unless the command is fed by a pipe (`yes | apt-get ...`) or the script configures
`APT::Get::Assume-Yes`.

## Why it matters
A build has no terminal. When apt wants to ask "Do you want to continue? [Y/n]" it reads end of
input, answers no, and the build fails with `Abort.`.

## Default severity
`warning`: %post has no terminal, so apt-get aborts at its first question and the build fails.

## Example
```
%post
    apt-get update && apt-get install curl
```

## Use instead
```
%post
    apt-get update && apt-get install -y curl
```

## Fix
Inserts `-y` after the subcommand.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Fix, Problem, Severity
from defkit.lint.rules._common import insert_after
from defkit.lint.rules._packages import script_invocations

CODE = "DK301"
NAME = "apt-get-missing-y"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = True

_PROMPTING = frozenset(
    {"install", "upgrade", "dist-upgrade", "full-upgrade", "remove", "purge", "autoremove",
     "build-dep", "reinstall"}
)  # fmt: skip

_NEEDS_PACKAGES = frozenset({"install", "remove", "purge", "reinstall", "build-dep"})


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or "assume-yes" in ctx.text.lower():
        return
    for call in script_invocations(ctx, "apt-get", "apt"):
        if call.subcommand is None or call.subcommand.value not in _PROMPTING:
            continue
        if call.subcommand.value in _NEEDS_PACKAGES and not call.operands:
            continue  # `apt-get purge` with no package does nothing and asks nothing
        if call.command.before == "|" or call.has_option("--yes", "--assume-yes", "-y"):
            continue
        if any(word.value in ("-qq", "-q=2", "--force-yes") for word in call.options):
            continue
        yield Problem(
            call.program_word.span,
            f"`{call.program} {call.subcommand.value}` without `-y` aborts at the first prompt",
            Fix("Add `-y`", (insert_after(call.subcommand.span, " -y"),)),
        )
