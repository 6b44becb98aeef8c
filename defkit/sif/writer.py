"""Write a SIF image the way `apptainer build` lays it out, byte-for-byte reproducibly.

Written by hand with `struct` because no maintained Python SIF library exists (the reference
implementations, sylabs/sif and apptainer/sif, are Go). The layout follows the SIF spec §1-§2:

    header (128 B) | zeros | descriptor table at 4096 (48 slots x 585 B) | data at 32176:
    def file (0x4001, unnamed) | generic JSON (0x4006) objects sorted by name
    (`inspect-metadata.json`, `oci-config.json`) | squashfs primary system partition, 4096-aligned

Reproducibility: every time field is Go's zero time (-62135596800). That is what Apptainer writes
in its deterministic mode (SOURCE_DATE_EPOCH set), siftool recognises it and hides the fields, and
it keeps the SIF bytes a function of the content alone (SOURCE_DATE_EPOCH already reaches the
content through squashfs times and labels). Unlike Apptainer's nil UUID we store a UUID derived
from a sha256 of the inputs (RFC 9562 version 8, "custom"), so distinct images keep distinct IDs.
"""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


def write_sif(
    out_path: PathLike,
    *,
    definition: bytes,
    inspect_metadata: bytes | None,
    squashfs_path: PathLike,
    arch: str,
    oci_config: bytes | None = None,
    deterministic_from: bytes | None = None,
) -> None:
    """Write `out_path` (via a temp file in its directory, then `os.replace`; mode 0755 & ~umask).

    `definition` is the full templated def file; `inspect_metadata` the `inspect-metadata.json`
    bytes (see `defkit.image.metadata`) or None to leave it out; `arch` a Go arch name
    (`defkit.sif.arch.elf_arch`). The squashfs is streamed in chunks, never loaded whole.
    The UUID is derived from sha256 over all inputs (squashfs bytes included), or from
    `deterministic_from` alone when given (e.g. a hash the caller already has).
    Raises `defkit.errors.BuildError` when the squashfs cannot be read or the output written.
    """
    raise NotImplementedError


def content_uuid(digest: bytes) -> bytes:
    """16 UUID bytes from a sha256 digest, with RFC 4122 variant and version 8 bits set."""
    raise NotImplementedError



