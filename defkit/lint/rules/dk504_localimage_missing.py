"""Checks that the image a `Bootstrap: localimage` stage starts from exists.

## What it does
Reports a `Bootstrap: localimage` stage whose `From:` names a file that does not exist, relative
to the definition file's directory (or as given, when absolute). Templated values
(`{{ BASE }}`) and definition files read from standard input are not checked.

## Why it matters
The build fails at once (`unable to get conveyor: ... no such file or directory`). Apptainer
opens the path relative to the directory the build runs in, which is usually the one that
holds the definition file; a recipe copied from elsewhere often names an image that was never
built or committed.

## Default severity
`warning`: the build fails unless it runs from another directory that has the file.

## Example
```
Bootstrap: localimage
From: base.sif
```

## Use instead
```
Bootstrap: localimage
From: images/base.sif
```
(a path that exists), or `Bootstrap: docker` and the image's registry reference.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import is_templated

CODE = "DK504"
NAME = "localimage-missing"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or ctx.path.startswith("<") or not os.path.isfile(ctx.path):
        return
    base = os.path.dirname(os.path.abspath(ctx.path))
    for stage in ctx.deffile.stages:
        if stage.bootstrap != "localimage":
            continue
        entry = stage.header_entry("from")
        if entry is None or not entry.value.strip() or is_templated(entry.value):
            continue
        image = entry.value.strip()
        if not os.path.exists(os.path.join(base, os.path.expanduser(image))):
            yield Problem(
                entry.value_span,
                f"`{image}` does not exist next to the definition file: the build fails "
                "unless it runs where that path exists",
            )
