"""Checks for `apt-get install` without `--no-install-recommends`.

## What it does
Reports `apt-get install` (or `apt install`) without `--no-install-recommends`, unless the
command or the file sets `APT::Install-Recommends` to false.

## Why it matters
Recommended packages are not needed to run what you install, and often double the size of the
image (documentation, X11 libraries, compilers).

## Default severity
`info`, and off by default (select it): a larger image, not a broken one (hadolint's DL3015 is
info). The image-size hints are opt-in so that a default run stays short: this one alone fired
on 154 of 343 real recipes.

## Example
```
%post
    apt-get install -y python3
```

## Use instead
```
%post
    apt-get install -y --no-install-recommends python3
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import script_invocations

CODE = "DK303"
NAME = "apt-no-install-recommends"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or "install-recommends" in ctx.text.lower().replace(
        "no-install-recommends", ""
    ):
        return  # configured once for the whole file (apt.conf.d or `-o APT::Install-Recommends`)
    for call in script_invocations(ctx, "apt-get", "apt"):
        if not call.runs("install"):
            continue
        if not call.has_option("--no-install-recommends"):
            yield Problem(
                call.program_word.span,
                f"`{call.program} install` without `--no-install-recommends`",
            )
