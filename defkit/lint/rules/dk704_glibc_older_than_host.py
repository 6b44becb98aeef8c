"""Checks that host libraries bound into the image find a glibc at least as new as the host's.

## What it does
With a site profile that gives `glibc`, works out the image's glibc from its base distribution
release (`ubuntu:20.04`, `rockylinux:8`, `nvidia/cuda:...-ubuntu22.04`, or `OSVersion:` of a
debootstrap/yum build; table in `defkit.site.distros`) and reports an image whose glibc is older
than the host's when the image uses host libraries: a CUDA image (`--nv` binds the host's
driver libraries), or one whose scripts name a host bind (`APPTAINER_BIND`, `SINGULARITY_BIND`,
`/opt/cray`, `/host/...` in `LD_LIBRARY_PATH`: the bind model of MPI).
Set the option `binds-host-libraries: true` to check every image, whatever its scripts say.
Quiet without a site profile or without `glibc` in it, and for bases whose release is unknown.

## Why it matters
A host library was linked against the host's glibc and asks for its symbol
versions; inside an image with an older glibc it fails to load with
"version `GLIBC_2.34' not found". An image that only uses its own libraries is not affected,
which is why the rule looks for host binds first.

## Default severity
`warning`: whether host libraries are bound is inferred from the file, and may be wrong.

## Example
With `glibc: "2.34"` in the site profile:
```
Bootstrap: docker
From: nvidia/cuda:11.8.0-runtime-ubuntu20.04
```

## Use instead
```
Bootstrap: docker
From: nvidia/cuda:11.8.0-runtime-ubuntu22.04
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._site import cuda, distro_glibc
from defkit.site.versions import version_text

CODE = "DK704"
NAME = "glibc-older-than-host"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {"binds-host-libraries": False}
FIXABLE = False

_HOST_BIND = re.compile(r"\b(?:APPTAINER|SINGULARITY)_BIND(?:PATH)?\b|/opt/cray\b|[=:\"']/host/")


def _binds_host_libraries(ctx: LintContext) -> bool:
    if ctx.options.get("binds-host-libraries", False) or cuda(ctx) is not None:
        return True
    stage = final_stage(ctx.deffile)
    return stage is not None and any(
        section.is_script and _HOST_BIND.search(section.body) for section in stage.sections
    )


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    host = site.version("glibc") if site is not None else None
    if host is None:
        return
    found = distro_glibc(ctx)
    if found is None or found.version is None or found.version >= host:
        return
    if _binds_host_libraries(ctx):
        yield Problem(
            found.span,
            f"{found.what} has glibc {version_text(found.version)}, older than the host's "
            f"{version_text(host)}: host libraries bound into the image will not load",
        )
