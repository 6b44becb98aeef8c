"""Checks for base images that are not pinned by digest.

## What it does
Reports a `From:` image of the `docker` or `oras` agents without `@sha256:...`, and a `library`
image without a `sha256.` tag. Templated values are not judged.

## Why it matters
A tag can be moved to other content at any time; only a digest makes the build reproducible and
protects against a replaced image. This is informational: pinning also means updating on purpose.

## Default severity
`info`, and off by default (select it to use it): a tag without a digest is common practice and
not a mistake; teams that require digests turn it on.

## Example
```
Bootstrap: docker
From: python:3.12-slim
```

## Use instead
```
Bootstrap: docker
From: python:3.12-slim@sha256:<digest of the image you tested>
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._image import stage_image

CODE = "DK202"
NAME = "unpinned-base"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
ENABLED_BY_DEFAULT = False  # digests are a team policy, not a defect: opt in with `select`
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        if stage.bootstrap == "shub":
            continue  # Singularity Hub has no digests to pin to
        entry = stage.header_entry("from")
        image = stage_image(stage.bootstrap, entry.value if entry else None)
        if entry is None or image is None or image.digest is not None:
            continue
        if stage.bootstrap == "library" and (image.tag or "").startswith("sha256."):
            continue
        yield Problem(entry.value_span, f"`{entry.value}` is not pinned by digest")
