"""Checks that `%files` sources exist.

## What it does
Reports a host `%files` source (relative to the definition file's directory) that does not
exist. Absolute paths, globs, templated and variable paths, copies from other stages, files
that `%setup` mentions (host copies run after it) and text not read from a file are not judged.

## Why it matters
The build runs `%post` and everything before it, then fails copying the file. Note that Apptainer
resolves relative sources against the directory `apptainer build` runs in: run builds from the
definition file's directory (or use absolute paths) so the check and the build agree.

## Default severity
`warning`: the build fails when it copies a file that is not there (relative to the definition
file). (The corpus of real recipes has the definition files without their build context, so it
fires there on 22 of 343 files; in a checkout it fires only for what is really missing.)

## Example
```
%files
    enviroment.yml /opt/environment.yml
```

## Use instead
```
%files
    environment.yml /opt/environment.yml
```
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import section_args
from defkit.model import Span

CODE = "DK501"
NAME = "files-source-missing"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_NOT_LITERAL = ("{{", "$", "*", "?", "[", "~")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or ctx.path.startswith("<") or not os.path.isfile(ctx.path):
        return
    base = os.path.dirname(os.path.abspath(ctx.path))
    lines = ctx.lines
    for stage in ctx.deffile.stages:
        setup = stage.script("setup")  # host copies run after %setup, which may create them
        for section in stage.sections:
            if section.name not in ("files", "appfiles") or section_args(section).strip():
                continue  # `%files from stage` copies from another stage, not the host
            for entry in section.files:
                source = entry.source
                if not source or source.startswith("/") or any(c in source for c in _NOT_LITERAL):
                    continue
                if os.path.lexists(os.path.join(base, source)) or source in setup:
                    continue
                line = entry.span.line
                column = (
                    lines[line - 1].find(source, entry.span.column - 1) + 1 or entry.span.column
                )
                yield Problem(
                    Span(line, column, line, column + len(source)),
                    f"`{source}` does not exist next to the definition file",
                )
