"""Checks that base images come from the registries the project trusts.

## What it does
When `trusted-registries` is configured (glob patterns such as `docker.io`, `*.gcr.io`), reports
`docker` and `oras` base images whose registry matches none of them. An image without a registry
comes from `docker.io`. Nothing is reported when the setting is empty.

## Why it matters
Organisations often allow only mirrored or scanned registries; a base image from elsewhere
bypasses that review.

## Default severity
`error`: only reported when `trusted-registries` is configured, where an image from elsewhere is
a policy violation.

## Example
With `trusted-registries: [registry.example.org]`:
```
Bootstrap: docker
From: ghcr.io/someone/tool:1.0
```

## Use instead
```
Bootstrap: docker
From: registry.example.org/mirror/tool:1.0
```
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._image import stage_image

CODE = "DK205"
NAME = "untrusted-registry"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    trusted = ctx.settings.trusted_registries
    if ctx.deffile is None or not trusted:
        return
    for stage in ctx.deffile.stages:
        if stage.bootstrap not in ("docker", "oras"):
            continue
        entry = stage.header_entry("from")
        image = stage_image(stage.bootstrap, entry.value if entry else None)
        if entry is None or image is None:
            continue
        registry = image.registry or "docker.io"
        if registry == "index.docker.io":
            registry = "docker.io"
        if not any(fnmatch.fnmatchcase(registry, pattern) for pattern in trusted):
            yield Problem(entry.value_span, f"registry `{registry}` is not in trusted-registries")
