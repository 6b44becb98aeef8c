"""Reports where Apptainer rejects the definition file.

## What it does
Reports each place where Apptainer's own parser would refuse the file (a header line without a
colon, a section line that cannot be split, a `%files` line with an unmatched quote, a section
over 64 KiB, an empty file, ...). Problems that a more specific rule explains, such as
`unknown-section` and `unknown-header-key`, are reported by that rule instead.

## Why it matters
`apptainer build` stops at the first such error, often after minutes of waiting for a base image
or with a cryptic message. The rest of the file is still linted, so every problem shows at once.

## Default severity
`error`: Apptainer rejects the file here; a build cannot start, so it always fails the run.

## Example
```
Bootstrap: docker
From: alpine:3.20
some stray text
```

## Use instead
```
Bootstrap: docker
From: alpine:3.20
# some stray text
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK001"
NAME = "parse-error"
SEVERITY: Severity = "error"
OPTIONS: dict[str, Any] = {}
FIXABLE = False

#: Parse-error kinds that a more specific rule reports from the model (kind -> rule name).
COVERED_KINDS: dict[str, str] = {
    "invalid-section": "unknown-section",
    "invalid-header-key": "unknown-header-key",
    "undefined-build-arg": "undefined-build-arg",
    "unused-build-arg": "unused-build-arg",
}

_START = Span(1, 1, 1, 1)


def check(ctx: LintContext) -> Iterator[Problem]:
    from defkit.lint.rules import by_name  # the registry imports this module

    for error in ctx.parse_errors:
        covering = COVERED_KINDS.get(error.kind)
        if covering is not None and ctx.deffile is not None and by_name(covering) is not None:
            continue
        yield Problem(span=error.span or _START, message=error.message)
