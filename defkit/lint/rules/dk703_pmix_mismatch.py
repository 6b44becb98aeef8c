"""Checks that the PMIx built into the image can talk to the site's.

## What it does
With a site profile that gives `pmix`, finds the PMIx built in the image (`pmix-4.2.9.tar.bz2`,
`PMIX_VERSION=`) and reports it when its major version differs from the site's, or when either
side is older than 2.1 (the first release with cross-version support).
Quiet without a site profile or without `pmix` in it.

## Why it matters
`srun --mpi=pmix` hands each rank the host's PMIx server. PMIx promises cross-version
compatibility from 2.1 on, but only for the features both sides know; Open MPI 5 needs PMIx 4
features, and Slurm's plugin is built per major (`pmix_v3`, `pmix_v4`). A different major often
works and sometimes fails in `MPI_Init` with "PMIX ERROR: UNREACHABLE".

## Default severity
`warning`: cross-version support makes many pairs work; worth a look, not a stop.

## Example
With `pmix: "5.0.3"` in the site profile:
```
%post
    curl -fsSLO https://github.com/openpmix/openpmix/releases/download/v3.2.5/pmix-3.2.5.tar.bz2
```

## Use instead
```
%post
    curl -fsSLO https://github.com/openpmix/openpmix/releases/download/v5.0.3/pmix-5.0.3.tar.bz2
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._site import pmix
from defkit.site.versions import version_text

CODE = "DK703"
NAME = "pmix-mismatch"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_CROSS_VERSION = (2, 1)


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    host = site.version("pmix") if site is not None else None
    if host is None:
        return
    found = pmix(ctx)
    if found is None or found.version is None:
        return
    image = found.version
    if image[0] != host[0]:
        yield Problem(
            found.span,
            f"the image has PMIx {version_text(image)}, the site runs PMIx {version_text(host)}: "
            "different major versions",
        )
    elif min(image[:2], host[:2]) < _CROSS_VERSION and image[:2] != host[:2]:
        yield Problem(
            found.span,
            f"PMIx {version_text(min(image, host))} has no cross-version support; the image "
            f"and the site ({version_text(host)}) need the same release",
        )
