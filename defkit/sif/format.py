"""The SIF on-disk layout (spec version "01"): constants and the packed header/descriptor records.

All integers are little-endian and the structs are packed, as Go's `encoding/binary` writes them;
the `struct` formats below reproduce that layout byte for byte (see the SIF spec §1).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEADER_FORMAT = "<32s10s3s3s16s8q"
DESCRIPTOR_FORMAT = "<i?III7q128s384s"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)  # 128
DESCRIPTOR_SIZE = struct.calcsize(DESCRIPTOR_FORMAT)  # 585

LAUNCH_SCRIPT = b"#!/usr/bin/env run-singularity\n"
MAGIC = b"SIF_MAGIC"
SPEC_VERSION = b"01"

DEFAULT_CAPACITY = 48
DESCRIPTORS_OFFSET = 4096
PARTITION_ALIGN = 4096
#: Group IDs are stored with the high nibble set; group 1 is written as 0xF0000001.
GROUP_MASK = 0xF0000000
#: Go's zero `time.Time{}` in Unix seconds: what Apptainer/sif write in deterministic mode.
GO_ZERO_TIME = -62135596800


class DataType(enum.IntEnum):
    DEFFILE = 0x4001
    ENV_VAR = 0x4002
    LABELS = 0x4003
    PARTITION = 0x4004
    SIGNATURE = 0x4005
    GENERIC_JSON = 0x4006
    GENERIC = 0x4007
    CRYPTO_MESSAGE = 0x4008
    SBOM = 0x4009
    OCI_ROOT_INDEX = 0x400A
    OCI_BLOB = 0x400B


class FsType(enum.IntEnum):
    SQUASHFS = 1
    EXT3 = 2
    IMMUTABLE_OBJECTS = 3
    RAW = 4
    ENCRYPTED_SQUASHFS = 5
    GOCRYPTFS_SQUASHFS = 6


class PartType(enum.IntEnum):
    SYSTEM = 1
    PRIMARY_SYSTEM = 2
    DATA = 3
    OVERLAY = 4


#: Go architecture name -> the two-digit SIF code (header and partition extra).
ARCH_CODES: dict[str, str] = {
    "unknown": "00",
    "386": "01",
    "amd64": "02",
    "arm": "03",
    "arm64": "04",
    "ppc64": "05",
    "ppc64le": "06",
    "mips": "07",
    "mipsle": "08",
    "mips64": "09",
    "mips64le": "10",
    "s390x": "11",
    "riscv64": "12",
    "loong64": "13",
}
ARCH_NAMES: dict[str, str] = {code: name for name, code in ARCH_CODES.items()}


@dataclass(frozen=True)
class Header:
    """The 128-byte global header at offset 0."""

    launch: bytes
    magic: bytes
    version: bytes
    arch: bytes  # two ASCII digits, e.g. b"02"
    uuid: bytes  # 16 raw bytes
    created: int
    modified: int
    descriptors_free: int
    descriptors_total: int
    descriptors_offset: int
    descriptors_size: int
    data_offset: int
    data_size: int

    def pack(self) -> bytes:
        return struct.pack(
            HEADER_FORMAT,
            self.launch,
            self.magic,
            self.version,
            self.arch,
            self.uuid,
            self.created,
            self.modified,
            self.descriptors_free,
            self.descriptors_total,
            self.descriptors_offset,
            self.descriptors_size,
            self.data_offset,
            self.data_size,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Header:
        f = struct.unpack(HEADER_FORMAT, raw[:HEADER_SIZE])
        return cls(f[0], _cstr(f[1]), _cstr(f[2]), _cstr(f[3]), f[4], *f[5:])


@dataclass(frozen=True)
class Descriptor:
    """One 585-byte descriptor slot; `extra` is the 384-byte type-specific field."""

    datatype: int
    used: bool
    id: int
    group: int  # as stored, i.e. with GROUP_MASK
    link: int
    offset: int
    size: int
    size_with_padding: int
    created: int
    modified: int
    uid: int
    gid: int
    name: bytes  # NUL-stripped
    extra: bytes  # full 384 bytes

    def pack(self) -> bytes:
        return struct.pack(
            DESCRIPTOR_FORMAT,
            self.datatype,
            self.used,
            self.id,
            self.group,
            self.link,
            self.offset,
            self.size,
            self.size_with_padding,
            self.created,
            self.modified,
            self.uid,
            self.gid,
            self.name,
            self.extra,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Descriptor:
        f = struct.unpack(DESCRIPTOR_FORMAT, raw[:DESCRIPTOR_SIZE])
        return cls(
            f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11],
            _cstr(f[12]), f[13],
        )  # fmt: skip

    @property
    def name_str(self) -> str:
        """The name; bytes that are not UTF-8 appear as `\\xNN` escapes, never raw."""
        return self.name.decode("utf-8", "backslashreplace")

    @property
    def group_id(self) -> int:
        """The group number without the stored high nibble (0 = no group)."""
        return self.group & ~GROUP_MASK if self.group else 0

    @property
    def partition(self) -> tuple[int, int, str] | None:
        """(fs type, partition type, Go arch name) for a partition descriptor, else None."""
        if self.datatype != DataType.PARTITION:
            return None
        fstype, parttype, arch = struct.unpack("<ii3s", self.extra[:11])
        code = _cstr(arch).decode("ascii", "replace")
        return fstype, parttype, ARCH_NAMES.get(code, "unknown")

    @property
    def datatype_name(self) -> str:
        try:
            return DataType(self.datatype).name
        except ValueError:
            return f"0x{self.datatype:04x}"


def partition_extra(fstype: int, parttype: int, arch: str) -> bytes:
    """The 384-byte extra field of a partition descriptor."""
    return struct.pack("<ii3s", fstype, parttype, arch_code(arch)).ljust(384, b"\0")


def arch_code(arch: str) -> bytes:
    """The two ASCII digits for a Go arch name; unknown names map to b"00" as in the sif library."""
    return ARCH_CODES.get(arch, "00").encode("ascii")


def _cstr(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]
