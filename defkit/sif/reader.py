"""Read a SIF image: the header, the used descriptors and the objects they point to.

Used by `defkit inspect`/`verify` and the localimage bootstrap agent. Files that are not SIF or
are cut short raise `SifFormatError` (one line, naming the file), never a struct error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

from defkit.errors import DefkitError
from defkit.sif.format import Descriptor, Header

PathLike = Union[str, "os.PathLike[str]"]


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
        raise NotImplementedError

    def primary_partition(self) -> Descriptor | None:
        """The primary system partition descriptor (fs/type/arch via `Descriptor.partition`)."""
        raise NotImplementedError

    @property
    def partition_offset(self) -> int:
        """Offset of the primary partition's data (`unsquashfs -o`); SifFormatError if none."""
        raise NotImplementedError

    def find(self, datatype: int, name: str | None = None) -> Descriptor | None:
        """The first used descriptor of `datatype` (and `name`, when given)."""
        raise NotImplementedError

    def read_object(self, desc: Descriptor, *, limit: int | None = None) -> bytes:
        """The data of `desc` (at most `limit` bytes). SifFormatError if it lies past the end."""
        raise NotImplementedError


def is_sif(path: PathLike) -> bool:
    """True when the file starts with a SIF header (magic at offset 32)."""
    raise NotImplementedError


def read_sif(path: PathLike) -> SifImage:
    """Open `path`; SifFormatError for a missing, non-SIF or truncated file."""
    raise NotImplementedError
