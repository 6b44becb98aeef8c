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

from defkit.sif.format import (
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
    return Obj(DataType.GENERIC_JSON, raw, METADATA_NAME)


def partition(data: bytes, *, fstype: int = FsType.SQUASHFS, arch: str = "amd64",
              offset: int | None = None, size: int | None = None) -> Obj:
    return Obj(DataType.PARTITION, data, b"", partition_extra(fstype, PartType.PRIMARY_SYSTEM,
                                                               arch), offset, size)


@dataclass
class Crafted:
    """A SIF under construction; `header` overrides any `Header` field after layout."""

    objects: list[Obj]
    capacity: int = 4
    arch: str = "amd64"
    header: dict[str, Any] = field(default_factory=dict)

    def build(self) -> bytes:
        data_offset = DESCRIPTORS_OFFSET + self.capacity * DESCRIPTOR_SIZE
        body = bytearray()
        descriptors = []
        for index, obj in enumerate(self.objects, 1):
            at = data_offset + len(body)
            if obj.datatype == DataType.PARTITION:
                pad = -at % PARTITION_ALIGN
                body += bytes(pad)
                at += pad
            body += obj.data
            descriptors.append(Descriptor(
                datatype=obj.datatype, used=True, id=index, group=1 | GROUP_MASK, link=0,
                offset=at if obj.offset is None else obj.offset,
                size=len(obj.data) if obj.size is None else obj.size,
                size_with_padding=len(obj.data), created=GO_ZERO_TIME, modified=GO_ZERO_TIME,
                uid=0, gid=0, name=obj.name, extra=obj.extra,
            ))
        header = Header(
            launch=LAUNCH_SCRIPT, magic=MAGIC, version=SPEC_VERSION, arch=arch_code(self.arch),
            uuid=bytes(16), created=GO_ZERO_TIME, modified=GO_ZERO_TIME,
            descriptors_free=self.capacity - len(descriptors), descriptors_total=self.capacity,
            descriptors_offset=DESCRIPTORS_OFFSET,
            descriptors_size=self.capacity * DESCRIPTOR_SIZE, data_offset=data_offset,
            data_size=len(body),
        )
        header = dataclasses.replace(header, **self.header)
        table = b"".join(d.pack() for d in descriptors)
        return (header.pack().ljust(DESCRIPTORS_OFFSET, b"\0")
                + table.ljust(data_offset - DESCRIPTORS_OFFSET, b"\0") + bytes(body))
