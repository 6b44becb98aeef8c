"""Checks that the registry bases pinned in the lock file still name the locked digests.

## What it does
When `FILE.def.lock` (written by `defkit lock`) is next to the definition, asks each `docker` and
`oras` base's registry what its tag names now and reports a base whose tag has moved since the
lock was written, or that the lock does not have. Opt-in (it talks to registries): select it
with `extend-select: [base-tag-moved]`. Definitions without a lock file are not checked.

## Why it matters
A build with the lock file uses the locked digest, so the image does not change when the tag
moves; but the tag usually moved for a reason (a security update). This rule tells CI when
to run `defkit lock` again and review the new base, as `defkit lock --check` does.

## Default severity
`warning`, and off by default because it asks registries over the network: the lock file no
longer describes the image the build gets.

## Example
`Singularity.def.lock` pins `debian:12` to `sha256:1111...`, and the registry now says
`sha256:2222...`:
```
Bootstrap: docker
From: debian:12
```

## Options
- `insecure` (bool, default `false`): talk to non-loopback registries over plain HTTP.

## Use instead
Run `defkit lock Singularity.def`, review the new base, and commit the lock file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from defkit.errors import DefkitError
from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK206"
NAME = "base-tag-moved"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {"insecure": False}
FIXABLE = False
ENABLED_BY_DEFAULT = False  # it asks registries over the network


def check(ctx: LintContext) -> Iterator[Problem]:
    from defkit import lock

    if ctx.deffile is None or not os.path.isfile(lock.lock_path(ctx.path)):
        return
    bases = lock.registry_bases(ctx.deffile)
    if not bases:
        return
    from defkit.registry.client import RegistryClient

    try:
        with RegistryClient(insecure=bool(ctx.options.get("insecure"))) as client:
            moved = lock.check(ctx.path, client, ctx.deffile)
    except DefkitError as exc:
        span = exc.span or bases[0].entry.value_span
        yield Problem(span, f"cannot check the lock file: {exc.message}")
        return
    for item in moved:
        span = item.base.entry.value_span
        if item.entry is None:
            yield Problem(span, f"`{item.base.source}` is not in the lock file: run `defkit lock`")
        else:
            yield Problem(span, f"`{item.base.source}` moved since the lock: "
                                f"{item.entry.digest} then, {item.now} now")
