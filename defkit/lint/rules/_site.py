"""What the site rules read from a definition file: the CUDA, MPI, PMIx and base distribution
of the image (its final stage), each with the place that says so.

Only what the file states is used: a base image tag (`nvidia/cuda:12.4.1-...`,
`pytorch/pytorch:2.4.0-cuda12.1-...`), a source download or package named with its version
(`openmpi-4.1.6.tar.bz2`, `cuda-toolkit-12-4`), or a `*_VERSION=` assignment. An image whose
contents are decided elsewhere (a templated tag, a version read at build time) is not judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._image import ImageRef, stage_image
from defkit.lint.rules._shell import Word
from defkit.model import Span, Stage
from defkit.site.cuda import TENSORFLOW_CUDA
from defkit.site.distros import glibc_of, glibc_of_image
from defkit.site.versions import Version, parse_version


@dataclass(frozen=True)
class Found:
    """Something the image contains, its version when known, and where the file says so."""

    what: str  # "openmpi", "CUDA", "PMIx", "ubuntu 22.04"
    version: Optional[Version]
    span: Span
    source: str  # the text that says so, for messages


def base_image(stage: Stage) -> Optional[tuple[ImageRef, Span]]:
    entry = stage.header_entry("from")
    image = stage_image(stage.bootstrap, entry.value if entry else None)
    return (image, entry.value_span) if entry is not None and image is not None else None


def words(ctx: LintContext, stage: Stage) -> Iterator[Word]:
    """Every word of the stage's script sections (`%post`, `%environment`, ...), in file order."""
    for section in stage.sections:
        if section.is_script:
            for command in ctx.commands(section):
                yield from command.words


def installed_packages(ctx: LintContext, stage: Stage) -> Iterator[Word]:
    """The package operands of `apt-get/apt/yum/dnf/microdnf/zypper/apk install|add` commands."""
    from defkit.lint.rules._packages import invocations

    for section in stage.sections:
        if section.is_script:
            for call in invocations(ctx, section, "apt-get", "apt", "yum", "dnf", "microdnf",
                                    "zypper", "apk"):
                if call.runs("install", "add", "in"):
                    yield from call.operands


def _first_word(
    ctx: LintContext, stage: Stage, pattern: re.Pattern[str]
) -> Optional[tuple[Word, re.Match[str]]]:
    for word in words(ctx, stage):
        match = pattern.search(word.value)
        if match is not None:
            return word, match
    return None


_CUDA_TAG = re.compile(r"(?:^|[-_])cuda-?(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)
_CUDA_WORD = re.compile(
    r"^CUDA_VERSION=(\d+\.\d+(?:\.\d+)?)|(?:^|/)cuda-(?:toolkit-|compiler-|runtime-|libraries-)?"
    r"(\d+)[-.](\d+)(?![\d])"
)


def cuda(ctx: LintContext) -> Optional[Found]:
    """The CUDA toolkit of the image: from the base image's tag, else from its scripts."""
    stage = final_stage(ctx.deffile)
    if stage is None:
        return None
    base = base_image(stage)
    if base is not None and base[0].tag is not None:
        image, span = base
        tag = image.tag or ""
        if image.repository.endswith("nvidia/cuda") or image.repository == "cuda":
            version = parse_version(tag.split("-")[0])
            if version is not None:
                return Found("CUDA", version, span, f"{image.repository}:{tag}")
        match = _CUDA_TAG.search(tag)
        if match is not None:
            return Found("CUDA", parse_version(match.group(1)), span, f"{image.repository}:{tag}")
        if image.repository.endswith("tensorflow/tensorflow") and tag.endswith("-gpu"):
            series = ".".join(tag.split(".")[:2])
            if series in TENSORFLOW_CUDA:
                version = parse_version(TENSORFLOW_CUDA[series])
                return Found("CUDA", version, span, f"{image.repository}:{tag}")
    found = _first_word(ctx, stage, _CUDA_WORD)
    if found is None:
        return None
    word, match = found
    text = match.group(1) or f"{match.group(2)}.{match.group(3)}"
    return Found("CUDA", parse_version(text), word.span, word.value)


_MPI_SOURCE = re.compile(
    r"(?:^|[/_\s])(openmpi|mpich|mvapich2)-(\d+\.\d+(?:\.\d+)?)(?:[a-z]+\d*)?\.tar"
)
_MPI_ASSIGN = re.compile(r"^(OMPI|OPENMPI|MPICH|MVAPICH2?)_VERSION=(\d+\.\d+(?:\.\d+)?)")
_MPI_PACKAGE = re.compile(
    r"^(libopenmpi-dev|openmpi-bin|openmpi|openmpi-devel|libmpich-dev|mpich|mpich-devel|"
    r"mvapich2)$"
)
_MPI_IMAGE = re.compile(r"(?:^|/)(openmpi|mpich|mvapich2)$")
_FAMILY = {
    "ompi": "openmpi", "openmpi": "openmpi", "libopenmpi-dev": "openmpi", "openmpi-bin": "openmpi",
    "openmpi-devel": "openmpi", "mpich": "mpich", "libmpich-dev": "mpich", "mpich-devel": "mpich",
    "mvapich": "mvapich2", "mvapich2": "mvapich2",
}  # fmt: skip


def mpi(ctx: LintContext) -> Optional[Found]:
    """The MPI built or installed into the image: family in `what`, version when stated."""
    stage = final_stage(ctx.deffile)
    if stage is None:
        return None
    package: Optional[Found] = None
    for word in words(ctx, stage):
        for pattern in (_MPI_SOURCE, _MPI_ASSIGN):
            match = pattern.search(word.value)
            if match is not None:
                family = _FAMILY[match.group(1).lower()]
                return Found(family, parse_version(match.group(2)), word.span, word.value)
    for word in installed_packages(ctx, stage):
        match = _MPI_PACKAGE.match(word.value)
        if match is not None and package is None:
            package = Found(_FAMILY[match.group(1)], None, word.span, word.value)
    if package is not None:
        return package
    base = base_image(stage)
    if base is not None:
        image, span = base
        match = _MPI_IMAGE.search(image.repository)
        if match is not None:
            return Found(match.group(1), parse_version(image.tag), span, image.repository)
    return None


_PMIX = re.compile(r"(?:^|[/_\s])pmix-(\d+\.\d+(?:\.\d+)?)\.tar|^PMIX_VERSION=(\d+\.\d+(?:\.\d+)?)")


def pmix(ctx: LintContext) -> Optional[Found]:
    """The PMIx built into the image, when a download or assignment names its version."""
    stage = final_stage(ctx.deffile)
    if stage is None:
        return None
    found = _first_word(ctx, stage, _PMIX)
    if found is None:
        return None
    word, match = found
    return Found("PMIx", parse_version(match.group(1) or match.group(2)), word.span, word.value)


def distro_glibc(ctx: LintContext) -> Optional[Found]:
    """The base distribution release of the image and its glibc, when the release is known."""
    stage = final_stage(ctx.deffile)
    if stage is None:
        return None
    base = base_image(stage)
    if base is not None:
        image, span = base
        known = glibc_of_image(image.repository, image.tag)
        return Found(known[0], known[1], span, f"{image.repository}:{image.tag}") if known else None
    release = stage.header_entry("osversion")
    if release is None:
        return None
    bootstrap = stage.bootstrap or ""
    mirror = (stage.header_value("mirrorurl") or "").lower()
    distro = "ubuntu" if "ubuntu" in mirror else "debian" if bootstrap == "debootstrap" else ""
    if bootstrap in ("yum", "dnf"):
        distro = "rockylinux" if "rocky" in mirror else "almalinux" if "alma" in mirror else "rhel"
    glibc = glibc_of(distro, release.value.strip()) if distro else None
    if glibc is None:
        return None
    return Found(f"{distro} {release.value.strip()}", glibc, release.value_span, release.value)
