"""Checks that `pip install` in the final image does not keep pip's cache.

## What it does
Reports `pip install` (also `pip3`, `python -m pip`) in the final stage's `%post` without
`--no-cache-dir`, unless the script sets `PIP_NO_CACHE_DIR` or removes the cache
(`pip cache purge`, `rm -rf ~/.cache/pip`, `/root/.cache`).

## Why it matters
pip keeps every downloaded wheel under `/root/.cache/pip`, which ends up in the image: often
hundreds of MB for scientific stacks.

## Default severity
`info`, and off by default (select it): a larger image, not a broken one (as hadolint's DL3042).
The image-size hints are opt-in so that a default run stays short.

## Example
```
%post
    pip install numpy==2.1.0
```

## Use instead
```
%post
    pip install --no-cache-dir numpy==2.1.0
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._packages import invocations

CODE = "DK306"
NAME = "pip-no-cache-dir"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False

_CACHE_HANDLED = ("PIP_NO_CACHE_DIR", "pip cache purge", ".cache/pip", "/root/.cache", "~/.cache")


def check(ctx: LintContext) -> Iterator[Problem]:
    stage = final_stage(ctx.deffile)
    if stage is None:
        return
    if any(marker in stage.raw for marker in _CACHE_HANDLED):
        return
    for section in stage.sections:
        if section.name not in ("post", "appinstall"):
            continue
        for call in invocations(ctx, section, "pip"):
            if not call.runs("install"):
                continue
            if not any(word.value.startswith("--no-cache") for word in call.options):
                yield Problem(call.program_word.span, "`pip install` without `--no-cache-dir`")
