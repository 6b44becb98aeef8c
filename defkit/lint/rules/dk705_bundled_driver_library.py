"""Checks that an image for a GPU site does not carry its own NVIDIA driver libraries.

## What it does
With a site profile that gives `gpu-driver`, reports `libcuda.so` or `libnvidia-ml.so` copied
into the image (`%files`, or a script that names them) and driver packages installed in it
(`cuda-drivers`, `nvidia-driver-*`, `libnvidia-compute-*`, the `cuda` meta-package that pulls
the driver in).
Quiet without a site profile or without `gpu-driver` in it.

## Why it matters
The user-space driver must match the host's kernel module exactly. `--nv`
binds the host's `libcuda.so`, but a copy in the image that the loader finds first (in
`LD_LIBRARY_PATH` or the image's `ld.so.cache`) wins, and every CUDA call then fails with
"CUDA driver version is insufficient" or "system has unsupported display driver / cuda driver
combination" on nodes whose driver differs from the build machine's.

## Default severity
`error`: the image breaks on every node whose driver is not the bundled one.

## Example
```
%files
    /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib/x86_64-linux-gnu/
```

## Use instead
Leave the driver out of the image, set `NVIDIA_VISIBLE_DEVICES` in `%environment` and run
with `apptainer run --nv`, which binds the host's driver libraries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._site import installed_packages, words

CODE = "DK705"
NAME = "bundled-driver-library"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_LIBRARY = re.compile(r"(?:^|/)(libcuda\.so|libnvidia-ml\.so)(?:\.[0-9.]*)?$")
_PACKAGE = re.compile(
    r"^(cuda-drivers(?:-\d+)?|nvidia-driver(?:-\d+)?(?:-server)?|libnvidia-compute-\d+|"
    r"nvidia-driver-cuda(?:-libs)?|cuda|cuda-\d+-\d+)(?:[=:].*)?$"
)


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    stage = final_stage(ctx.deffile)
    if site is None or site.gpu_driver is None or stage is None:
        return
    for section in stage.sections:
        for entry in section.files:
            for path in (entry.source, entry.destination):
                match = _LIBRARY.search(path.rstrip("*"))
                if match is not None:
                    yield Problem(entry.span, f"{match.group(1)} is copied into the image")
                    break
    for word in words(ctx, stage):
        match = _LIBRARY.search(word.value.rstrip("*"))
        if match is not None:
            yield Problem(word.span, f"{match.group(1)} is put into the image")
    for word in installed_packages(ctx, stage):
        match = _PACKAGE.match(word.value)
        if match is not None:
            yield Problem(
                word.span, f"the package {match.group(1)} installs the NVIDIA driver's libraries"
            )
