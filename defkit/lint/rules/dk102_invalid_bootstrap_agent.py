"""Checks that `Bootstrap:` names an agent Apptainer knows, spelled in lower case.

## What it does
Reports a `Bootstrap:` value that is not one of Apptainer's bootstrap agents (`docker`, `library`,
`localimage`, `oras`, `debootstrap`, `yum`, ...). The match is exact and case-sensitive, so
`Bootstrap: Docker` is reported too, with a did-you-mean.

## Why it matters
The parser accepts any value, then `apptainer build` stops with `invalid build source Docker`.

## Default severity
`error`: Apptainer stops at an unknown bootstrap agent; the build fails.

## Example
```
Bootstrap: Docker
From: alpine:3.20
```

## Use instead
```
Bootstrap: docker
From: alpine:3.20
```

## Fix
When the value differs from an agent only in case, the fix lower-cases it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.lint.rules._common import is_templated

CODE = "DK102"
NAME = "invalid-bootstrap-agent"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = True

AGENTS = (
    "docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "library", "oras", "shub",
    "localimage", "yum", "dnf", "debootstrap", "zypper", "arch", "busybox", "scratch", "buildkit",
    "dockerfile",
)  # fmt: skip


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        entry = stage.header_entry("bootstrap")
        if entry is None or not entry.value or entry.value in AGENTS or is_templated(entry.value):
            continue
        lowered = entry.value.lower()
        if lowered in AGENTS:
            fix = Fix(f"Write `{lowered}`", (Edit(entry.value_span, lowered),))
            yield Problem(
                entry.value_span,
                f"bootstrap agent `{entry.value}` must be lower case: `{lowered}`",
                fix,
            )
            continue
        close = difflib.get_close_matches(lowered, AGENTS, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        yield Problem(entry.value_span, f"unknown bootstrap agent `{entry.value}`{hint}")
