"""Checks that `yum`, `dnf`, `microdnf` and `zypper` run without asking for confirmation.

## What it does
Reports `yum`/`dnf`/`microdnf` `install`, `update`, `upgrade`, `remove`, `erase`, `groupinstall`,
`reinstall`, `downgrade`, `distro-sync`, `autoremove` without `-y`/`--assumeyes`, and `zypper`
`install`/`in`, `update`/`up`, `dist-upgrade`/`dup`, `remove`/`rm`, `patch` without `-n`,
`--non-interactive`, `-y` or `--no-confirm`.

## Why it matters
The build has no terminal to answer the prompt: the command reads end of input and the build
fails ("Operation aborted", "Exiting on user command").

## Default severity
`warning`: the package manager waits for an answer that never comes, and the build fails.

## Example
```
%post
    yum install epel-release
```

## Use instead
```
%post
    yum install -y epel-release
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

CODE = "DK305"
NAME = "yum-missing-y"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = True

_YUM_PROMPTING = frozenset(
    {"install", "update", "upgrade", "remove", "erase", "groupinstall", "groupupdate", "reinstall",
     "downgrade", "distro-sync", "autoremove", "localinstall", "group", "module"}
)  # fmt: skip
_ZYPPER_PROMPTING = frozenset(
    {"install", "in", "update", "up", "dist-upgrade", "dup", "remove", "rm", "patch",
     "source-install", "si"}
)  # fmt: skip


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or "assumeyes" in ctx.text.lower():
        return
    for call in script_invocations(ctx, "yum", "dnf", "microdnf", "zypper"):
        sub = call.subcommand
        if sub is None or call.command.before == "|":
            continue
        if call.program == "zypper":
            if sub.value not in _ZYPPER_PROMPTING or call.has_option(
                "-n", "--non-interactive", "-y", "--no-confirm"
            ):
                continue
        elif sub.value not in _YUM_PROMPTING or call.has_option("-y", "--assumeyes"):
            continue
        flag = "-y" if call.program != "zypper" or sub.value in ("install", "in") else "-n"
        edit = insert_after((call.program_word if flag == "-n" else sub).span, f" {flag}")
        yield Problem(
            call.program_word.span,
            f"`{call.program} {sub.value}` without `{flag}` aborts at the first prompt",
            Fix(f"Add `{flag}`", (edit,)),
        )
