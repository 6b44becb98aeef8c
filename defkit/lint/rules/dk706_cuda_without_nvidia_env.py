"""Checks that a CUDA image tells the runtime which GPUs it uses.

## What it does
With a site profile that gives `gpu-driver`, reports a CUDA image (found as in
`cuda-newer-than-driver`) that is not built on an NVIDIA-provided base (`nvidia/cuda`,
`nvcr.io/nvidia/...`, `pytorch/pytorch`, `tensorflow/tensorflow`: their environment sets
`NVIDIA_VISIBLE_DEVICES`) and does not set `NVIDIA_VISIBLE_DEVICES` in `%environment`.
Quiet without a site profile or without `gpu-driver` in it.

## Why it matters
The image still runs with `--nv`, but the NVIDIA container tooling that Apptainer
can use (`--nvccli`) and the site's GPU binding read `NVIDIA_VISIBLE_DEVICES` (and
`NVIDIA_DRIVER_CAPABILITIES`) from the image; without them the job sees no GPU or every GPU of
the node instead of the ones Slurm gave it.

## Default severity
`warning`: the image works with plain `--nv`; the missing variables matter with GPU binding.

## Example
```
Bootstrap: docker
From: ubuntu:22.04
%post
    apt-get install -y cuda-toolkit-12-4
```

## Use instead
```
Bootstrap: docker
From: ubuntu:22.04
%environment
    export NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
%post
    apt-get install -y cuda-toolkit-12-4
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._site import base_image, cuda

CODE = "DK706"
NAME = "cuda-without-nvidia-env"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_NVIDIA_BASES = ("nvidia/", "pytorch/pytorch", "tensorflow/tensorflow")


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    stage = final_stage(ctx.deffile)
    if site is None or site.gpu_driver is None or stage is None:
        return
    found = cuda(ctx)
    if found is None:
        return
    base = base_image(stage)
    if base is not None and base[0].repository.startswith(_NVIDIA_BASES):
        return
    if "NVIDIA_VISIBLE_DEVICES" in stage.script("environment"):
        return
    yield Problem(
        found.span,
        f"a CUDA image ({found.source}) without NVIDIA_VISIBLE_DEVICES in %environment",
    )
