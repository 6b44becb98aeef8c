"""Checks that `pip install` names package versions.

## What it does
Reports a `pip install` whose package arguments have no version specifier (`==`, `>=`, `~=`,
`@ url`, ...). Requirement files (`-r`), local paths, URLs, VCS references and templated names
are not judged, nor are the packages of the `ignore-packages` option.

## Why it matters
Without versions, every build resolves to whatever was released last: a build that worked
yesterday can fail, or silently change results, today.

## Default severity
`info`, and off by default (select it): rebuilds may differ, but the image built is right;
pinning is a team's policy (as `unpinned-base`), and common practice in research recipes is not
to.

## Example
```
%post
    pip install --no-cache-dir numpy pandas
```

## Options
- `ignore-packages` (list, default `["pip", "setuptools", "wheel"]`): package names not judged,
  compared case-insensitively without extras.

## Use instead
```
%post
    pip install --no-cache-dir numpy==2.1.0 pandas==2.2.3
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import script_invocations

CODE = "DK307"
NAME = "pip-unpinned"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # reproducibility policy: opt in with `select`
OPTIONS: dict[str, object] = {"ignore-packages": ["pip", "setuptools", "wheel"]}
FIXABLE = False

_SPECIFIER = re.compile(r"[=<>~!@]")
_NOT_A_NAME = re.compile(r"[/$`{]|\.(whl|tar\.gz|zip|tgz)$|^\.|^[a-z+]+:")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    ignored = {str(name).lower() for name in ctx.options.get("ignore-packages", ())}
    for call in script_invocations(ctx, "pip"):
        if not call.runs("install"):
            continue
        if any(target and target.value.startswith("=") for _, target in call.command.redirects):
            continue  # `pkg>=1.0` unquoted: pip-unquoted-specifier reports it
        unpinned = [
            word
            for word in call.operands
            if not _SPECIFIER.search(word.value)
            and not _NOT_A_NAME.search(word.value)
            and word.value.split("[", 1)[0].lower() not in ignored
        ]
        if unpinned:
            names = ", ".join(f"`{word.value}`" for word in unpinned[:3])
            more = f" and {len(unpinned) - 3} more" if len(unpinned) > 3 else ""
            yield Problem(unpinned[0].span, f"no version given for {names}{more}")
