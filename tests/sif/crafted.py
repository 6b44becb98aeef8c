"""Hand-made SIF files for the robustness tests: any object, any offset, any header field.

Built from defkit's own SIF records (`defkit.sif.format.Header`/`Descriptor`), so a crafted file
differs from a written one only where a test asks it to: hostile offsets and sizes, damaged
headers, metadata JSON of the wrong shape, garbage partitions.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from defkit.sif import format as sif

METADATA_NAME = b"inspect-metadata.json"


@dataclass(frozen=True)
class Obj:
    """One object; `offset`/`size` override where its descriptor says it is (data stays put)."""

    datatype: int
    data: bytes
    name: bytes = b""
    extra: bytes = bytes(384)
    offset: int | None = None
    size: int | None = None


def metadata(value: Any) -> Obj:
    """An `inspect-metadata.json` object holding `value` (a JSON-able value, or raw bytes)."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Obj(sif.DataType.GENERIC_JSON, raw, METADATA_NAME)


def partition(data: bytes, *, fstype: int = sif.FsType.SQUASHFS, arch: str = "amd64",
              offset: int | None = None, size: int | None = None) -> Obj:
    extra = sif.partition_extra(fstype, sif.PartType.PRIMARY_SYSTEM, arch)
    return Obj(sif.DataType.PARTITION, data, b"", extra, offset, size)


@dataclass
class Crafted:
    """A SIF under construction; `header` overrides any `sif.Header` field after layout."""

    objects: list[Obj]
    capacity: int = 4
    arch: str = "amd64"
    header: dict[str, Any] = field(default_factory=dict)

    def build(self) -> bytes:
        data_offset = sif.DESCRIPTORS_OFFSET + self.capacity * sif.DESCRIPTOR_SIZE
        body = bytearray()
        descriptors = []
        for index, obj in enumerate(self.objects, 1):
            at = data_offset + len(body)
            if obj.datatype == sif.DataType.PARTITION:
                pad = -at % sif.PARTITION_ALIGN
                body += bytes(pad)
                at += pad
            body += obj.data
            descriptors.append(sif.Descriptor(
                datatype=obj.datatype, used=True, id=index, group=1 | sif.GROUP_MASK, link=0,
                offset=at if obj.offset is None else obj.offset,
                size=len(obj.data) if obj.size is None else obj.size,
                size_with_padding=len(obj.data), created=sif.GO_ZERO_TIME,
                modified=sif.GO_ZERO_TIME,
                uid=0, gid=0, name=obj.name, extra=obj.extra,
            ))
        header = sif.Header(
            launch=sif.LAUNCH_SCRIPT, magic=sif.MAGIC, version=sif.SPEC_VERSION,
            arch=sif.arch_code(self.arch),
            uuid=bytes(16), created=sif.GO_ZERO_TIME, modified=sif.GO_ZERO_TIME,
            descriptors_free=self.capacity - len(descriptors), descriptors_total=self.capacity,
            descriptors_offset=sif.DESCRIPTORS_OFFSET,
            descriptors_size=self.capacity * sif.DESCRIPTOR_SIZE, data_offset=data_offset,
            data_size=len(body),
        )
        header = dataclasses.replace(header, **self.header)
        table = b"".join(d.pack() for d in descriptors)
        return (header.pack().ljust(sif.DESCRIPTORS_OFFSET, b"\0")
                + table.ljust(data_offset - sif.DESCRIPTORS_OFFSET, b"\0") + bytes(body))
