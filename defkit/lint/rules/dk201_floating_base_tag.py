"""Checks for base images without a tag or with the `latest` tag.

## What it does
Reports a `From:` image of the `docker`, `library`, `oras` or `shub` agents that has no tag or
the tag `latest`, unless it is pinned by digest. Templated values (`{{ IMAGE }}`, `$VAR`) are
not judged: they are decided at build time.

## Why it matters
`latest` moves. The same definition file builds a different image next month, and a build that
worked breaks without any change to the file.

## Default severity
`info`: the image built today is right; only a rebuild may differ (hadolint's DL3006/DL3007 are
warnings, but most real recipes build from a floating tag, and a default run fails only for
what breaks a build or an image). Teams that pin make it fail: `severity: {floating-base-tag:
warning}`, or `fail-on: info`.

## Example
```
Bootstrap: docker
From: ubuntu
```

## Options
- `allowed-images` (list, default `[]`): repositories that may float, such as `busybox` or
  `ghcr.io/org/nightly` (the registry is part of the name when the `From:` value has one).

## Use instead
```
Bootstrap: docker
From: ubuntu:24.04
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._image import stage_image

CODE = "DK201"
NAME = "floating-base-tag"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {"allowed-images": []}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    allowed = {str(name) for name in ctx.options.get("allowed-images", ())}
    for stage in ctx.deffile.stages:
        entry = stage.header_entry("from")
        image = stage_image(stage.bootstrap, entry.value if entry else None)
        if entry is None or image is None or image.digest is not None:
            continue
        name = f"{image.registry}/{image.repository}" if image.registry else image.repository
        if name in allowed:
            continue
        if image.tag is None:
            yield Problem(entry.value_span, f"`{entry.value}` has no tag, so `latest` is pulled")
        elif image.tag == "latest":
            yield Problem(entry.value_span, f"`{entry.value}` uses the moving `latest` tag")
