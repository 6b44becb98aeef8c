"""CPU architecture names: Apptainer's spelling, and the markers that pin a file to one."""

from __future__ import annotations

import re
from typing import Optional

#: Other spellings -> Apptainer's name (GOARCH style).
_ALIASES = {
    "x86_64": "amd64", "x86-64": "amd64", "x64": "amd64", "amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64", "arm64v8": "arm64",
    "ppc64le": "ppc64le", "ppc64el": "ppc64le",
    "s390x": "s390x",
    "i386": "386", "i686": "386", "386": "386",
    "arm32v7": "arm", "arm32v6": "arm", "arm32v5": "arm", "armhf": "arm", "armel": "arm",
    "riscv64": "riscv64", "mips64le": "mips64le",
}  # fmt: skip

#: Docker Hub's per-architecture namespaces (`arm64v8/ubuntu`).
IMAGE_NAMESPACES = frozenset(
    {"amd64", "arm64v8", "arm32v5", "arm32v6", "arm32v7", "i386", "ppc64le", "s390x", "riscv64",
     "mips64le"}
)  # fmt: skip

#: An architecture name standing alone inside a file name or URL (`Linux-x86_64.sh`, `_amd64.deb`).
ARCH_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(x86_64|amd64|aarch64|arm64|ppc64le|ppc64el|s390x|i386|i686)(?![A-Za-z0-9])"
)


def normalize(name: str) -> Optional[str]:
    """Apptainer's name for an architecture spelling, or None when it is not one."""
    return _ALIASES.get(name.strip().lower())
