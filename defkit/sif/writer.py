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

import errno
import hashlib
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Union

from defkit.atomic import current_umask, replacing
from defkit.errors import BuildError
from defkit.sif.format import (
    DEFAULT_CAPACITY,
    DESCRIPTOR_SIZE,
    DESCRIPTORS_OFFSET,
    GO_ZERO_TIME,
    GROUP_MASK,
    LAUNCH_SCRIPT,
    MAGIC,
    PARTITION_ALIGN,
    SPEC_VERSION,
    DataType,
    Descriptor,
    FsType,
    Header,
    PartType,
    arch_code,
    partition_extra,
)
from defkit.sif.stream import copy_and_hash

PathLike = Union[str, "os.PathLike[str]"]

_NO_EXTRA = bytes(384)
_UUID_DOMAIN = b"defkit SIF image UUID v1\0"


@dataclass(frozen=True)
class _Object:
    datatype: DataType
    name: str
    extra: bytes
    align: int
    size: int


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
    bytes (see `defkit.metadata`) or None to leave it out; `arch` a Go arch name
    (`defkit.sif.arch.elf_arch`). The squashfs is streamed in chunks, never loaded whole.
    The UUID is derived from sha256 over all inputs (squashfs bytes included), or from
    `deterministic_from` alone when given (e.g. a hash the caller already has).
    Raises `defkit.errors.BuildError` when the squashfs cannot be read or the output written.
    """
    out = os.fspath(out_path)
    sqfs = os.fspath(squashfs_path)
    try:
        sqfs_size = os.stat(sqfs).st_size
    except OSError as exc:
        raise BuildError(f"cannot read squashfs {sqfs}: {exc.strerror}", path=sqfs) from None
    small = [(_Object(DataType.DEFFILE, "", _NO_EXTRA, 1, len(definition)), definition)]
    generic = {"inspect-metadata.json": inspect_metadata, "oci-config.json": oci_config}
    for name in sorted(generic):  # Apptainer adds the generic JSON objects sorted by name
        data = generic[name]
        if data is not None:
            small.append((_Object(DataType.GENERIC_JSON, name, _NO_EXTRA, 1, len(data)), data))
    part = _Object(
        DataType.PARTITION,
        "",
        partition_extra(FsType.SQUASHFS, PartType.PRIMARY_SYSTEM, arch),
        PARTITION_ALIGN,
        sqfs_size,
    )

    # With `deterministic_from` the caller vouches for the inputs: skip hashing the squashfs.
    hasher = hashlib.sha256(_UUID_DOMAIN) if deterministic_from is None else None
    if hasher is not None:
        for obj, data in small:
            hasher.update(_frame(obj.datatype, obj.name, data))
        hasher.update(_frame(DataType.PARTITION, arch, b""))

    # Mode 0755 & ~umask, as `apptainer build` leaves a SIF.
    try:
        with replacing(out, mode=0o755 & ~current_umask()) as tmp, open(tmp, "wb") as f:
            descriptors, data_end = _write_data(f, small, part, sqfs, hasher)
            digest = (
                hasher.digest()
                if hasher is not None
                else hashlib.sha256(_UUID_DOMAIN + (deterministic_from or b"")).digest()
            )
            header = _header(descriptors, data_end, arch, content_uuid(digest)).pack()
            table = b"".join(d.pack() for d in descriptors)
            data_offset = DESCRIPTORS_OFFSET + DEFAULT_CAPACITY * DESCRIPTOR_SIZE
            # Everything before the data, zeros included, is written out: no holes anywhere.
            f.seek(0)
            f.write(
                header.ljust(DESCRIPTORS_OFFSET, b"\0")
                + table.ljust(data_offset - DESCRIPTORS_OFFSET, b"\0")
            )
    except OSError as exc:
        raise BuildError(f"cannot write {out}: {exc.strerror or exc}", path=out) from None


def content_uuid(digest: bytes) -> bytes:
    """16 UUID bytes from a sha256 digest, with RFC 4122 variant and version 8 bits set."""
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: application-defined ("custom") contents
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(raw)


def _write_data(
    f: BinaryIO,
    small: list[tuple[_Object, bytes]],
    part: _Object,
    sqfs: str,
    hasher: hashlib._Hash | None,
) -> tuple[list[Descriptor], int]:
    """Write every object from the data offset on; return the descriptors and the end offset."""
    data_offset = DESCRIPTORS_OFFSET + DEFAULT_CAPACITY * DESCRIPTOR_SIZE
    descriptors: list[Descriptor] = []
    end = data_offset
    for obj, data in small:
        f.seek(end)
        f.write(data)
        descriptors.append(_descriptor(len(descriptors) + 1, obj, end, end))
        end += obj.size
    start = -(-end // part.align) * part.align
    # Padding is written as zeros rather than left as a hole, so the bytes are the same on every
    # file system and through every copy tool.
    f.seek(end)
    f.write(bytes(start - end))
    f.flush()  # the partition is written through the raw descriptor below
    try:
        copied = copy_and_hash(sqfs, f.fileno(), start, hasher)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise  # the output's file system is full: the caller names the output
        raise BuildError(f"cannot copy squashfs {sqfs}: {exc.strerror or exc}", path=sqfs) from None
    if copied != part.size:
        raise BuildError(f"squashfs {sqfs} changed size while being copied", path=sqfs)
    descriptors.append(_descriptor(len(descriptors) + 1, part, start, end))
    return descriptors, start + part.size


def _descriptor(obj_id: int, obj: _Object, offset: int, previous_end: int) -> Descriptor:
    return Descriptor(
        datatype=int(obj.datatype),
        used=True,
        id=obj_id,
        group=1 | GROUP_MASK,
        link=0,
        offset=offset,
        size=obj.size,
        size_with_padding=offset - previous_end + obj.size,
        created=GO_ZERO_TIME,
        modified=GO_ZERO_TIME,
        uid=0,
        gid=0,
        name=obj.name.encode("utf-8"),
        extra=obj.extra,
    )


def _header(descriptors: list[Descriptor], data_end: int, arch: str, uuid: bytes) -> Header:
    data_offset = DESCRIPTORS_OFFSET + DEFAULT_CAPACITY * DESCRIPTOR_SIZE
    return Header(
        launch=LAUNCH_SCRIPT,
        magic=MAGIC,
        version=SPEC_VERSION,
        arch=arch_code(arch),
        uuid=uuid,
        created=GO_ZERO_TIME,
        modified=GO_ZERO_TIME,
        descriptors_free=DEFAULT_CAPACITY - len(descriptors),
        descriptors_total=DEFAULT_CAPACITY,
        descriptors_offset=DESCRIPTORS_OFFSET,
        descriptors_size=DEFAULT_CAPACITY * DESCRIPTOR_SIZE,
        data_offset=data_offset,
        data_size=data_end - data_offset,
    )


def _frame(datatype: int, name: str, data: bytes) -> bytes:
    """Length-prefixed record for the UUID hash, so field boundaries cannot be shifted."""
    encoded = name.encode("utf-8")
    head = struct.pack("<iQ", datatype, len(encoded))
    return head + encoded + struct.pack("<Q", len(data)) + data
