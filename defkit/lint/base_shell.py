"""What `/bin/sh` is in a stage's base image, as far as its header tells.

ShellCheck's dialect and the bashism rule both depend on it: on RHEL-family, SUSE and Arch
bases `/bin/sh` is bash, on Alpine and busybox bases it is busybox ash, elsewhere (Debian,
Ubuntu, unknown) it is taken to be a POSIX sh such as dash.
"""

from __future__ import annotations

import re

from defkit.model import Stage

_BASH_AS_SH = re.compile(
    r"centos|rocky|alma|fedora|rhel|ubi[0-9]|redhat|opensuse|sles|amazonlinux|oraclelinux"
    r"|archlinux|manjaro",
    re.IGNORECASE,
)
_BUSYBOX_SH = re.compile(r"alpine|busybox", re.IGNORECASE)


def sh_is_bash(stage: Stage) -> bool:
    """`/bin/sh` is bash: yum/dnf/zypper/arch bootstraps, or a RHEL/SUSE/Arch-family image."""
    if stage.bootstrap in ("yum", "dnf", "zypper", "arch"):
        return True
    return bool(_BASH_AS_SH.search(stage.header_value("from") or ""))


def sh_is_busybox(stage: Stage) -> bool:
    """`/bin/sh` is busybox ash: busybox bootstrap, or an Alpine or busybox image."""
    if stage.bootstrap == "busybox":
        return True
    return bool(_BUSYBOX_SH.search(stage.header_value("from") or ""))
