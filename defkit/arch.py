"""The machine defkit runs on, named as Go (and so Apptainer and OCI platforms) name it."""

from __future__ import annotations

import platform

#: `uname -m` spellings -> Go arch names (amd64, arm64, 386, ...); others are already Go's.
GO_ARCH_ALIASES: dict[str, str] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
    "mips": "mips",
    "mips64": "mips64",
}


def go_arch(machine: str) -> str:
    """Go's name for the `uname -m` name `machine` (unknown names are returned lower-cased)."""
    lowered = machine.strip().lower()
    return GO_ARCH_ALIASES.get(lowered, lowered)


def host_arch() -> str:
    """Go arch name of the machine we run on ("unknown" when the platform does not say)."""
    return go_arch(platform.machine()) or "unknown"
