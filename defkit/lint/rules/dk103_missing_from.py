"""Checks that agents which pull an existing image have a `From:` value.

## What it does
Reports a stage whose agent needs `From:` (`docker`, `docker-archive`, `docker-daemon`, `oci`,
`oci-archive`, `library`, `oras`, `shub`, `localimage`, `buildkit`/`dockerfile`) when `From:` is
missing or empty.

## Why it matters
The build has nothing to start from and fails after the parse succeeded.

## Default severity
`error`: the agent needs `From:` and the build fails without it.

## Example
```
Bootstrap: docker
%post
    echo hello
```

## Use instead
```
Bootstrap: docker
From: debian:12
%post
    echo hello
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK103"
NAME = "missing-from"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False

AGENTS_WITH_FROM = frozenset(
    {
        "docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "library", "oras",
        "shub", "localimage", "buildkit", "dockerfile",
    }
)  # fmt: skip


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        bootstrap = stage.header_entry("bootstrap")
        if bootstrap is None or bootstrap.value not in AGENTS_WITH_FROM:
            continue
        source = stage.header_entry("from")
        if source is None:
            yield Problem(bootstrap.span, f"`Bootstrap: {bootstrap.value}` needs a `From:` header")
        elif not source.value.strip():
            yield Problem(source.span, f"`From:` is empty; `{bootstrap.value}` needs an image")
