"""Checks for `%environment` assignments without `export`.

## What it does
Reports `NAME=value` lines in `%environment` (and `%appenv`) that are never exported, unless the
variable is used later in the same section (then it is probably a helper for other values).

## Why it matters
`%environment` is sourced by a shell before your program starts. A plain assignment sets a
shell variable, which programs started from the container do not necessarily see; whether they
do has changed between Singularity and Apptainer versions. `export` says what you mean.

## Default severity
`info`: the variable is set for the section itself, only not exported to child processes; often
intended.

## Example
```
%environment
    LC_ALL=C.UTF-8
```

## Use instead
```
%environment
    export LC_ALL=C.UTF-8
```

## Fix
Inserts `export ` before the assignment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Fix, Problem, Severity
from defkit.lint.rules._common import insert_before
from defkit.lint.rules._shell import expansions
from defkit.model import Section

CODE = "DK401"
NAME = "environment-missing-export"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = True

_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")


def _check_section(ctx: LintContext, section: Section) -> Iterator[Problem]:
    found = list(ctx.commands(section))
    exported: set[str] = set()
    used: set[str] = set()
    for command in found:
        if command.name in ("export", "readonly") or (
            command.head and command.head.value == "export"
        ):
            exported.update(
                match.group(1) if match else word.value
                for word in command.argv[1:]
                for match in [_ASSIGNMENT.match(word.text)]
            )
        for word in command.words:
            used.update(name for name, _ in expansions(word))
    for command in found:
        if command.argv or not command.words:
            continue  # a command, or export itself: only bare assignments are of interest
        if command.before not in ("", ";", "&&", "||") or command.after == "|":
            continue
        assignments = [word for word in command.words if _ASSIGNMENT.match(word.text)]
        names = [word.text.split("=", 1)[0] for word in assignments]
        if not names or any(name in exported or name in used for name in names):
            continue
        first = assignments[0]
        yield Problem(
            first.span,
            f"`{names[0]}` is assigned but not exported",
            Fix("Add `export`", (insert_before(first.span, "export "),)),
        )


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.name in ("environment", "appenv"):
                yield from _check_section(ctx, section)
