"""Read what an image says about itself: labels, def file, environment, scripts, arch, descriptors.

For a SIF, `inspect-metadata.json` is used when present; otherwise (images from other builders)
the files are read out of the squashfs partition with `unsquashfs -o OFFSET -cat`, which writes
nothing to disk. A sandbox directory is read in place, with paths kept inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class DescriptorInfo:
    id: int
    datatype: str  # e.g. "DEFFILE", "GENERIC_JSON", "PARTITION"
    name: str
    offset: int
    size: int
    group: int
    partition: str | None  # "squashfs primary amd64" for partitions


@dataclass(frozen=True)
class ImageInfo:
    path: str
    kind: str  # "sif" or "sandbox"
    arch: str
    labels: dict[str, str]
    deffile: str | None
    runscript: str | None
    test: str | None
    startscript: str | None
    helpfile: str | None
    environment: dict[str, str]  # env file path -> content
    apps: dict[str, Any]
    descriptors: tuple[DescriptorInfo, ...] = ()
    source: str = "files"  # "inspect-metadata.json" or "files"
    uuid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Apptainer's inspect JSON shape plus defkit's `arch`, `descriptors` and `uuid`."""
        raise NotImplementedError


def inspect_image(path: PathLike) -> ImageInfo:
    """Inspect a SIF file or a sandbox directory. DefkitError for anything else."""
    raise NotImplementedError
