"""Checks that the file builds for the target architecture.

## What it does
Compares the target architecture (`arch` setting or `--arch`; Apptainer's names `amd64`, `arm64`,
`ppc64le`, `s390x`, `386`, with `x86_64` and `aarch64` accepted) with what the file pins down:
- base images from Docker Hub's per-architecture namespaces (`arm64v8/ubuntu`, `amd64/debian`);
- `MirrorURL` on `ports.ubuntu.com` (not x86) or `archive.ubuntu.com` (x86 only), or naming an
  architecture in its path;
- downloads in scripts whose URL or file name names one architecture
  (`Miniconda3-latest-Linux-x86_64.sh`, `tool_1.0_amd64.deb`, `linux-aarch64.tar.gz`);
- stages of one file whose base images are for different architectures.
A script section that names several architectures or asks for the machine's (`uname -m`,
`dpkg --print-architecture`, `$TARGETARCH`) is taken to choose at build time and is not judged.

## Why it matters
The build pulls or runs code for another CPU: the pull fails with "no matching manifest", or the
image builds and its programs fail with "Exec format error" on the cluster.

## Default severity
`warning`: the build may succeed but the image does not run on the target machines.

## Example
With `arch: arm64`:
```
%post
    wget https://repo.anaconda.com/miniconda/Miniconda3-latest-Linux-x86_64.sh
```

## Use instead
```
%post
    wget "https://repo.anaconda.com/miniconda/Miniconda3-latest-Linux-$(uname -m).sh"
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._arch import ARCH_IN_NAME, IMAGE_NAMESPACES, normalize
from defkit.lint.rules._image import stage_image
from defkit.lint.rules._shell import Word
from defkit.model import Section, Span, Stage

CODE = "DK203"
NAME = "arch-mismatch"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_DOWNLOAD = re.compile(
    r"://|\.(sh|deb|rpm|tar|tgz|gz|xz|bz2|zip|whl|run|bin|appimage|jar)$", re.IGNORECASE
)
_ARCH_AWARE = re.compile(
    r"uname\s+-[a-z]*m|\barch\b|dpkg\s+--print-architecture|TARGETARCH|HOSTTYPE|MACHTYPE"
    r"|\$\{?ARCH\b|rpm\s+--eval|basearch",
    re.IGNORECASE,
)
_X86 = ("amd64", "386")


def _image_arch(stage: Stage) -> Optional[tuple[str, Span]]:
    entry = stage.header_entry("from")
    image = stage_image(stage.bootstrap, entry.value if entry else None)
    if entry is None or image is None or image.registry not in ("", "docker.io"):
        return None
    namespace = image.repository.split("/", 1)[0]
    if "/" not in image.repository or namespace not in IMAGE_NAMESPACES:
        return None
    arch = normalize(namespace)
    return (arch, entry.value_span) if arch else None


def _mirror_problem(stage: Stage, target: str) -> Optional[Problem]:
    entry = stage.header_entry("mirrorurl")
    if entry is None:
        return None
    url = entry.value.lower()
    if "ports.ubuntu.com" in url and target in _X86:
        return Problem(entry.value_span, f"ports.ubuntu.com serves no {target} packages")
    if ("archive.ubuntu.com" in url or "security.ubuntu.com" in url) and target not in _X86:
        return Problem(
            entry.value_span, f"archive.ubuntu.com serves only x86; {target} is on ports.ubuntu.com"
        )
    found = {normalize(match.group(1)) for match in ARCH_IN_NAME.finditer(url)}
    if len(found) == 1 and target not in found:
        return Problem(
            entry.value_span, f"`MirrorURL` is for {found.pop()}, the target is {target}"
        )
    return None


def _download_words(ctx: LintContext, section: Section) -> Iterator[tuple[Word, str]]:
    """Download-like words naming exactly one architecture; none if the script is arch-aware."""
    if _ARCH_AWARE.search(section.body):
        return
    found: list[tuple[Word, str]] = []
    for command in ctx.commands(section):
        for word in command.words:
            if not _DOWNLOAD.search(word.value):
                continue
            arches = {normalize(match.group(1)) for match in ARCH_IN_NAME.finditer(word.value)}
            if len(arches) == 1:
                found.append((word, str(arches.pop())))
    if len({arch for _, arch in found}) == 1:
        yield from found


def check(ctx: LintContext) -> Iterator[Problem]:
    target = normalize(ctx.settings.arch) or ctx.settings.arch
    if ctx.deffile is None:
        return
    first_image: Optional[tuple[str, int]] = None
    for number, stage in enumerate(ctx.deffile.stages, start=1):
        image = _image_arch(stage)
        if image is not None:
            arch, span = image
            if first_image is not None and first_image[0] != arch:
                yield Problem(
                    span,
                    f"this stage's image is for {arch}, stage {first_image[1]}'s for "
                    f"{first_image[0]}",
                )
            elif arch != target:
                yield Problem(span, f"the base image is for {arch}, the target is {target}")
            first_image = first_image or (arch, number)
        mirror = _mirror_problem(stage, target)
        if mirror is not None:
            yield mirror
        for section in stage.sections:
            if not section.is_script:
                continue
            for word, arch in _download_words(ctx, section):
                if arch != target:
                    yield Problem(
                        word.span, f"downloads a build for {arch}, the target is {target}"
                    )
