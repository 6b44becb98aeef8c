"""Checks that the site's NVIDIA driver runs the image's CUDA toolkit.

## What it does
With a site profile that gives `gpu-driver`, finds the CUDA toolkit of the image (the tag of an
`nvidia/cuda` base, a `-cudaX.Y` tag such as `pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime`,
a `tensorflow/tensorflow:X.Y.Z-gpu` tag by TensorFlow's table, `CUDA_VERSION=` or a
`cuda-toolkit-X-Y` package) and compares the driver it needs with the site's.
The table of drivers is NVIDIA's (CUDA Toolkit release notes, Tables 2 and 3, in
`defkit.site.cuda`). A driver below the major version's floor (Table 2: 525.60.13 for 12.x) is
an error. A driver above the floor but below the release's own (Table 3) is a warning: CUDA minor
version compatibility runs the image, but PTX JIT of newer PTX and new driver APIs fail. Set the
option `minor-version-compatibility: false` when the image relies on those: then each release's
own driver is required and its absence is an error.
Quiet without a site profile or without `gpu-driver` in it.

## Why it matters
Every CUDA call fails on the cluster with "CUDA driver version is insufficient for CUDA runtime
version"; the build itself succeeds, so only the users find out.

## Default severity
`error` when the driver is below the major version's floor (nothing CUDA runs); `warning` in the
minor version compatibility window, where most programs run and PTX JIT does not.

## Example
With `gpu-driver: "470.199.02"` in the site profile:
```
Bootstrap: docker
From: nvidia/cuda:12.4.1-runtime-ubuntu22.04
```

## Use instead
```
Bootstrap: docker
From: nvidia/cuda:11.4.3-runtime-ubuntu20.04
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._site import cuda
from defkit.site.cuda import required_driver
from defkit.site.versions import parse_version, version_text

CODE = "DK701"
NAME = "cuda-newer-than-driver"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {"minor-version-compatibility": True}
FIXABLE = False
#: Each finding carries its level: error below the major version's floor, warning above it.
DYNAMIC_SEVERITY = True


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    driver = site.version("gpu_driver") if site is not None else None
    if site is None or driver is None:
        return
    found = cuda(ctx)
    if found is None or found.version is None:
        return
    own = required_driver(found.version, minor_compatibility=False)
    if own is None or driver >= (parse_version(own) or ()):
        return
    cuda_text = f"CUDA {version_text(found.version)}"
    floor = required_driver(found.version, minor_compatibility=True)
    compatible = bool(ctx.options.get("minor-version-compatibility", True))
    if compatible and floor is not None and floor != own and driver >= (parse_version(floor) or ()):
        yield Problem(
            found.span,
            f"{cuda_text} needs NVIDIA driver {own}; the site's {site.gpu_driver} runs it only "
            "through minor version compatibility (no PTX JIT of newer PTX)",
            severity="warning",
        )
        return
    yield Problem(
        found.span,
        f"{cuda_text} needs NVIDIA driver {floor if compatible and floor else own} or newer; "
        f"the site's driver is {site.gpu_driver}",
        severity="error",
    )
