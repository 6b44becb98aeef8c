"""Check a SIF's structure and that its squashfs partition is readable.

Checks: magic and version, launch script, descriptor table inside the file and not overlapping
the data, every used object inside the file and past the table, no overlaps, exactly one primary
system partition, partitions 4096-aligned, header arch matching the partition, data size, and
`unsquashfs -s -o OFFSET` succeeding on the partition.
"""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


def verify_image(path: PathLike) -> list[str]:
    """Problems found, one short sentence each; an empty list means the image is sound."""
    raise NotImplementedError
