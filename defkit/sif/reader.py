"""Read a SIF image: the header, the used descriptors and the objects they point to.

Used by `defkit inspect`/`verify` and the localimage bootstrap agent. Files that are not SIF or
are cut short raise `SifFormatError` (one line, naming the file), never a struct error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

from defkit.errors import DefkitError
from defkit.safepath import open_host_file, read_host_head
from defkit.sif.format import (
    ARCH_NAMES,
    DESCRIPTOR_SIZE,
    HEADER_SIZE,
    MAGIC,
    DataType,
    Descriptor,
    Header,
    PartType,
)

PathLike = Union[str, "os.PathLike[str]"]

#: A table larger than this is damage, not an image (48 slots are the default; 1024 is generous).
MAX_DESCRIPTORS = 4096
#: Def files and JSON objects are read whole; a larger one is damage (or an attack on memory).
MAX_SMALL_OBJECT = 64 * 1024 * 1024


class SifFormatError(DefkitError):
    """The file is not a SIF image, or its header/descriptor table is damaged or truncated."""


@dataclass(frozen=True)
class SifImage:
    """An opened SIF: `descriptors` holds the used slots in table order."""

    path: str
    header: Header
    descriptors: tuple[Descriptor, ...]
    file_size: int

    @property
    def arch(self) -> str:
        """The header's Go arch name ("unknown" for 00)."""
        return ARCH_NAMES.get(self.header.arch.decode("ascii", "replace"), "unknown")

    def primary_partition(self) -> Descriptor | None:
        """The primary system partition descriptor (fs/type/arch via `Descriptor.partition`)."""
        for desc in self.descriptors:
            part = desc.partition
            if part is not None and part[1] == PartType.PRIMARY_SYSTEM:
                return desc
        return None

    @property
    def partition_offset(self) -> int:
        """Offset of the primary partition's data (`unsquashfs -o`); SifFormatError if none."""
        desc = self.primary_partition()
        if desc is None:
            raise SifFormatError("the image has no primary system partition", path=self.path)
        return desc.offset

    def find(self, datatype: int, name: str | None = None) -> Descriptor | None:
        """The first used descriptor of `datatype` (and `name`, when given)."""
        for desc in self.descriptors:
            if desc.datatype == datatype and (name is None or desc.name_str == name):
                return desc
        return None

    def read_small(self, desc: Descriptor) -> bytes:
        """The whole data of a def file or JSON object; SifFormatError past MAX_SMALL_OBJECT."""
        if desc.size > MAX_SMALL_OBJECT:
            raise SifFormatError(
                f"object {desc.id} claims {desc.size} bytes, more than the "
                f"{MAX_SMALL_OBJECT} a {desc.datatype_name} object may hold",
                path=self.path,
            )
        return self.read_object(desc)

    def read_object(self, desc: Descriptor, *, limit: int | None = None) -> bytes:
        """The data of `desc` (at most `limit` bytes). SifFormatError if it lies past the end."""
        if desc.offset < 0 or desc.size < 0 or desc.offset + desc.size > self.file_size:
            raise SifFormatError(
                f"object {desc.id} ({desc.offset}+{desc.size}) lies outside the file "
                f"({self.file_size} bytes); the image is truncated",
                path=self.path,
            )
        size = desc.size if limit is None else min(limit, desc.size)
        try:
            with open(open_host_file(self.path), "rb") as f:
                f.seek(desc.offset)
                data = f.read(size)
        except OSError as exc:
            raise SifFormatError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
        if len(data) != size:
            raise SifFormatError(f"object {desc.id} is truncated", path=self.path)
        return data


def is_sif(path: PathLike) -> bool:
    """True when the file starts with a SIF header (magic at offset 32)."""
    head = read_host_head(os.fspath(path), 42)  # a FIFO or device is not a SIF: never blocks
    return head is not None and head[32:42] == MAGIC + b"\0"


def read_sif(path: PathLike) -> SifImage:
    """Open `path`; SifFormatError for a missing, non-SIF or truncated file."""
    name = os.fspath(path)
    try:
        with open(open_host_file(name), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(HEADER_SIZE)
            if raw[32:42] != MAGIC + b"\0":
                raise SifFormatError("not a SIF image (no SIF_MAGIC at offset 32)", path=name)
            if len(raw) < HEADER_SIZE:
                raise SifFormatError("truncated SIF image (header cut short)", path=name)
            header = Header.unpack(raw)
            total, offset = header.descriptors_total, header.descriptors_offset
            if not 0 <= total <= MAX_DESCRIPTORS or offset < HEADER_SIZE:
                raise SifFormatError(
                    f"damaged SIF header (descriptor table: {total} slots at {offset})", path=name
                )
            table_end = offset + total * DESCRIPTOR_SIZE
            if table_end > size:
                raise SifFormatError(
                    f"truncated SIF image: descriptor table ends at {table_end}, "
                    f"file has {size} bytes",
                    path=name,
                )
            f.seek(offset)
            table = f.read(total * DESCRIPTOR_SIZE)
    except IsADirectoryError:
        raise SifFormatError("is a directory, not a SIF image", path=name) from None
    except FileNotFoundError:
        raise SifFormatError("no such file", path=name) from None
    except OSError as exc:
        raise SifFormatError(f"cannot read: {exc.strerror or exc}", path=name) from None
    descriptors = []
    for i in range(total):
        desc = Descriptor.unpack(table[i * DESCRIPTOR_SIZE : (i + 1) * DESCRIPTOR_SIZE])
        if desc.used:
            descriptors.append(desc)
    return SifImage(name, header, tuple(descriptors), size)


__all__ = ["DataType", "SifFormatError", "SifImage", "is_sif", "read_sif"]
