"""The glibc of a base distribution release, for images whose base is known by name.

Source: each distribution's package of `glibc`/`libc6` in that release (packages.debian.org,
packages.ubuntu.com, the RHEL/Rocky/Alma `glibc` package of the major release).
"""

from __future__ import annotations

import re
from typing import Optional

from defkit.site.versions import Version, parse_version

#: (distribution, release) -> glibc version. Releases by number and by code name.
GLIBC: dict[tuple[str, str], str] = {
    ("debian", "9"): "2.24", ("debian", "stretch"): "2.24",
    ("debian", "10"): "2.28", ("debian", "buster"): "2.28",
    ("debian", "11"): "2.31", ("debian", "bullseye"): "2.31",
    ("debian", "12"): "2.36", ("debian", "bookworm"): "2.36",
    ("debian", "13"): "2.41", ("debian", "trixie"): "2.41",
    ("ubuntu", "16.04"): "2.23", ("ubuntu", "xenial"): "2.23",
    ("ubuntu", "18.04"): "2.27", ("ubuntu", "bionic"): "2.27",
    ("ubuntu", "20.04"): "2.31", ("ubuntu", "focal"): "2.31",
    ("ubuntu", "22.04"): "2.35", ("ubuntu", "jammy"): "2.35",
    ("ubuntu", "24.04"): "2.39", ("ubuntu", "noble"): "2.39",
    ("centos", "7"): "2.17", ("rhel", "7"): "2.17", ("ubi", "7"): "2.17",
    ("centos", "8"): "2.28", ("rhel", "8"): "2.28", ("ubi", "8"): "2.28",
    ("rockylinux", "8"): "2.28", ("almalinux", "8"): "2.28",
    ("rhel", "9"): "2.34", ("ubi", "9"): "2.34", ("rockylinux", "9"): "2.34",
    ("almalinux", "9"): "2.34", ("centos", "stream9"): "2.34",
}  # fmt: skip

#: The repository names of the distributions' own images (`library/ubuntu`, `rockylinux`).
_IMAGE_DISTRO = {
    "debian": "debian", "ubuntu": "ubuntu", "centos": "centos", "rockylinux": "rockylinux",
    "almalinux": "almalinux", "ubi7/ubi": "ubi", "ubi8/ubi": "ubi", "ubi9/ubi": "ubi",
    "ubi8": "ubi", "ubi9": "ubi",
}  # fmt: skip

#: A distribution and release inside a tag (`...-ubuntu22.04`, `...-rockylinux8`, `...-ubi9`).
_IN_TAG = re.compile(r"(ubuntu|rockylinux|ubi|centos|debian)-?(\d+(?:\.\d+)?|[a-z]+)$")


def glibc_of(distro: str, release: str) -> Optional[Version]:
    """The glibc of `distro` `release` ("debian", "12" or "bookworm"); None when unknown."""
    release = release.lower()
    found = GLIBC.get((distro.lower(), release))
    if found is None and "." in release and distro.lower() != "ubuntu":
        found = GLIBC.get((distro.lower(), release.split(".")[0]))  # debian 12.5, rocky 9.3
    return parse_version(found)


def glibc_of_image(repository: str, tag: Optional[str]) -> Optional[tuple[str, Version]]:
    """(distribution release, glibc) of a base image known by name; None when not known."""
    if tag is None:
        return None
    name = repository.removeprefix("library/")
    distro = _IMAGE_DISTRO.get(name) or _IMAGE_DISTRO.get(name.split("/")[-1])
    if distro is not None:
        release = re.split(r"[-_]", tag)[0]
        glibc = glibc_of(distro, release)
        if glibc is not None:
            return f"{distro} {release}", glibc
    match = _IN_TAG.search(tag.lower())
    if match is not None:
        glibc = glibc_of(match.group(1), match.group(2))
        if glibc is not None:
            return f"{match.group(1)} {match.group(2)}", glibc
    return None
