"""Checks that the final image does not keep apt's package lists.

## What it does
Reports, in the final stage, the last `apt-get update`/`install` of the build scripts when no
`rm -rf /var/lib/apt/lists/*` comes after it. Earlier stages are not checked: they do not end
up in the image.

## Why it matters
The lists downloaded by `apt-get update` (tens of MB) stay in the image, and are stale anyway by
the time anyone runs it.

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
from defkit.lint.rules._packages import invocations
from defkit.lint.rules._shell import Word, commands

CODE = "DK304"
NAME = "apt-lists-not-cleaned"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or not ctx.deffile.stages:
        return
    last_apt: Optional[Word] = None
    for section in ctx.deffile.final_stage.sections:
        if section.name not in ("post", "appinstall"):
            continue
        cleaned = {
            command.words[0].span.line
            for command in commands(section)
            if command.name == "rm"
            and any("/var/lib/apt/lists" in word.value for word in command.argv)
        }
        for call in invocations(section, "apt-get", "apt"):
            if call.subcommand is not None and call.subcommand.value in ("update", "install"):
                last_apt = call.program_word
        if last_apt is not None and any(line >= last_apt.span.line for line in cleaned):
            last_apt = None
    if last_apt is not None:
        yield Problem(last_apt.span, "apt lists are left in the image; remove /var/lib/apt/lists/*")
