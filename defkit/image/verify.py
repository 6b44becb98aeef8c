"""Check a SIF's structure and that its squashfs partition is readable.

Checks: magic and version, launch script, descriptor table inside the file and not overlapping
the data, every used object inside the file and past the table, no overlaps, generic JSON objects
parse, exactly one primary system partition, partitions 4096-aligned, header arch matching the
partition, data size, and unsquashfs reading the partition's superblock (`-s -o OFFSET`) and its
inode and directory tables (`-lln`).
"""

from __future__ import annotations

import os
import re
from typing import Union

from defkit.errors import DefkitError
from defkit.metadata import METADATA_JSON, check_metadata, parse_json
from defkit.sif.format import (
    ARCH_NAMES,
    DESCRIPTOR_SIZE,
    HEADER_SIZE,
    PARTITION_ALIGN,
    SPEC_VERSION,
    DataType,
    FsType,
    PartType,
)
from defkit.sif.reader import SifImage, read_sif
from defkit.squashfs import SquashfsError, unsquash_list, unsquash_stat

PathLike = Union[str, "os.PathLike[str]"]

_FS_SIZE = re.compile(r"Filesystem size (\d+) bytes")


def verify_image(path: PathLike) -> list[str]:
    """Problems found, one short sentence each; an empty list means the image is sound."""
    name = os.fspath(path)
    if os.path.isdir(name):
        return ["is a directory (a sandbox), not a SIF image"]
    try:
        image = read_sif(name)  # magic, header length, descriptor table inside the file
    except DefkitError as exc:
        return [exc.message]
    problems = _header_problems(image)
    problems += object_problems(image)
    problems += _json_problems(image)
    problems += _partition_problems(image)
    return problems


def _json_problems(image: SifImage) -> list[str]:
    """Generic JSON objects (inspect-metadata.json, oci-config.json) must parse, and
    inspect-metadata.json must have the shape Apptainer's inspect decodes."""
    problems = []
    for d in image.descriptors:
        if d.datatype != DataType.GENERIC_JSON or d.offset + d.size > image.file_size:
            continue
        if d.offset < image.header.data_offset or d.size < 0:
            continue  # already reported as out of place
        label = f"object {d.id} ({d.name_str or 'unnamed'})"
        try:
            value = parse_json(image.read_small(d))
            if d.name_str == METADATA_JSON:
                check_metadata(value)
        except DefkitError as exc:
            problems.append(f"object {d.id}: {exc.message}")
        except ValueError as exc:
            problems.append(f"{label} is not valid JSON ({exc})")
    return problems


def _header_problems(image: SifImage) -> list[str]:
    h = image.header
    problems = []
    if h.version != SPEC_VERSION:
        problems.append(f"unsupported SIF version {h.version!r} (expected {SPEC_VERSION!r})")
    launch = h.launch.rstrip(b"\0")  # all zero is fine: `siftool new` writes no launch script
    if launch and not launch.startswith(b"#!"):
        problems.append("launch script does not start with '#!'")
    if h.descriptors_size != h.descriptors_total * DESCRIPTOR_SIZE:
        problems.append(
            f"descriptor table size {h.descriptors_size} != {h.descriptors_total} slots x "
            f"{DESCRIPTOR_SIZE}"
        )
    table_end = h.descriptors_offset + h.descriptors_total * DESCRIPTOR_SIZE
    if h.descriptors_offset < HEADER_SIZE:
        problems.append(f"descriptor table at {h.descriptors_offset} overlaps the header")
    if h.data_offset < table_end:
        problems.append(f"data offset {h.data_offset} lies inside the descriptor table")
    used = len(image.descriptors)
    if h.descriptors_free != h.descriptors_total - used:
        problems.append(
            f"header says {h.descriptors_free} free descriptors, table has "
            f"{h.descriptors_total - used}"
        )
    end = h.data_offset + h.data_size
    if end > image.file_size:
        problems.append(
            f"truncated: header says data ends at {end}, file has {image.file_size} bytes"
        )
    elif end < image.file_size:
        problems.append(f"{image.file_size - end} unaccounted bytes after the data section")
    code = h.arch.decode("ascii", "replace")
    if code not in ARCH_NAMES:
        problems.append(f"unknown architecture code {code!r} in the header")
    return problems


def object_problems(image: SifImage) -> list[str]:
    """Objects outside the file or the data section, overlapping, or with bad ids."""
    h = image.header
    problems = []
    seen: set[int] = set()
    spans: list[tuple[int, int, int]] = []
    for d in image.descriptors:
        if d.id < 1 or d.id in seen:
            problems.append(f"descriptor id {d.id} is invalid or used twice")
        seen.add(d.id)
        if d.size < 0 or d.offset < h.data_offset:
            problems.append(
                f"object {d.id} at {d.offset} (size {d.size}) lies before the data section "
                f"({h.data_offset})"
            )
            continue
        if d.offset + d.size > image.file_size:
            problems.append(
                f"object {d.id} ends at {d.offset + d.size}, past the end of the file "
                f"({image.file_size} bytes)"
            )
        if d.offset + d.size > h.data_offset + h.data_size:
            problems.append(f"object {d.id} ends past the header's data size")
        spans.append((d.offset, d.offset + d.size, d.id))
    spans.sort()
    for (_, end_a, id_a), (start_b, _, id_b) in zip(spans, spans[1:]):
        if start_b < end_a:
            problems.append(f"objects {id_a} and {id_b} overlap")
    return problems


def _partition_problems(image: SifImage) -> list[str]:
    problems = []
    parts = [(d, d.partition) for d in image.descriptors if d.partition is not None]
    primaries = [d for d, p in parts if p is not None and p[1] == PartType.PRIMARY_SYSTEM]
    if len(primaries) != 1:
        problems.append(f"{len(primaries)} primary system partitions (exactly one expected)")
    for d, _ in parts:
        if d.offset % PARTITION_ALIGN:
            problems.append(f"partition {d.id} at {d.offset} is not {PARTITION_ALIGN}-aligned")
    if len(primaries) != 1:
        return problems
    primary = primaries[0]
    fstype, _, arch = primary.partition or (0, 0, "")
    if arch != image.arch:
        problems.append(f"header arch {image.arch} differs from the partition's {arch}")
    if fstype != FsType.SQUASHFS:
        problems.append(f"primary partition has file system type {fstype}, not squashfs")
        return problems
    if primary.offset < 0 or primary.size < 0 or primary.offset + primary.size > image.file_size:
        return problems  # already reported; unsquashfs would only repeat it less clearly
    try:
        report = unsquash_stat(image.path, primary.offset)
    except SquashfsError as exc:
        return [*problems, f"squashfs partition unreadable: {exc.message}"]
    match = _FS_SIZE.search(report)
    if match and int(match.group(1)) > primary.size:
        problems.append(
            f"squashfs needs {match.group(1)} bytes but its partition holds {primary.size}"
        )
        return problems
    try:
        unsquash_list(image.path, primary.offset)  # reads every inode and directory table
    except SquashfsError as exc:
        problems.append(f"squashfs directory tables unreadable: {exc.message}")
    return problems
