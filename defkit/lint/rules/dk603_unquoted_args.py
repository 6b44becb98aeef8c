"""Checks for `$@` and `$*` without double quotes in runscripts.

## What it does
Reports `$@`, `$*`, `${@}` and `${*}` outside double quotes in `%runscript`, `%startscript`,
`%apprun`, `%appstart`, `%test` and `%apptest`.

## Why it matters
Unquoted, the arguments are split again at spaces and glob characters are expanded:
`apptainer run img.sif "my file.txt"` passes `my` and `file.txt` to your program. `"$@"` passes
each argument exactly as given.

## Default severity
`warning`: unquoted `$@`/`$*` split arguments with spaces; the program gets other arguments than
the user gave.

## Example
```
%runscript
    exec python3 /opt/app.py $@
```

## Use instead
```
%runscript
    exec python3 /opt/app.py "$@"
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import unquoted_parts, word_part_span

CODE = "DK603"
NAME = "unquoted-args"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_SECTIONS = ("runscript", "startscript", "apprun", "appstart", "test", "apptest")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_ALL_ARGS = re.compile(r"\$(\{[@*]\}|[@*])")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.name not in _SECTIONS:
                continue
            for command in ctx.commands(section):
                for word in command.words:
                    if _ASSIGNMENT.match(word.text):
                        continue  # `NAME=$*` is not split: assignments are never word-split
                    for offset, part in unquoted_parts(word.text):
                        for match in _ALL_ARGS.finditer(part):
                            span = word_part_span(
                                word, offset + match.start(), offset + match.end()
                            )
                            yield Problem(
                                span, f"`{match.group(0)}` without double quotes splits arguments"
                            )
