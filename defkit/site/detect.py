"""A site profile for the machine defkit runs on, from the tools it has.

Each probe is optional: a tool that is missing, fails or prints something unexpected leaves its
key out. `nvidia-smi` (driver), `ompi_info` or `mpichversion` (MPI), `pmix_info`, `ucx_info`,
`ofed_info`, `ldd --version` (glibc), `apptainer --version`; zstd support from the kernel's
configuration (CONFIG_SQUASHFS_ZSTD), which Apptainer's kernel mounts need.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from typing import Optional

from defkit.errors import DefkitError
from defkit.runner import Runner, run
from defkit.site.profile import SiteProfile

_VERSION = r"(\d+(?:\.\d+)+)"
_TIMEOUT = 30.0


def _output(runner: Runner, argv: Sequence[str]) -> Optional[str]:
    try:
        done = runner(argv, timeout=_TIMEOUT)
    except (DefkitError, OSError):
        return None
    if done.returncode != 0:
        return None
    return (done.stdout or b"").decode("utf-8", "replace") + (done.stderr or b"").decode(
        "utf-8", "replace"
    )


def _search(pattern: str, text: Optional[str]) -> Optional[str]:
    match = re.search(pattern, text or "", re.MULTILINE)
    return match.group(1) if match else None


def _gpu_driver(runner: Runner) -> Optional[str]:
    text = _output(runner, ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return _search(r"^\s*" + _VERSION, text)


def _mpi(runner: Runner) -> tuple[Optional[str], Optional[str]]:
    version = _search(r"Open MPI v?" + _VERSION, _output(runner, ["ompi_info", "--version"]))
    if version is not None:
        return "openmpi", version
    text = _output(runner, ["mpichversion"])
    version = _search(r"MPICH Version:\s*" + _VERSION, text)
    if version is not None:
        return "mpich", version
    return None, None


def _glibc(runner: Runner) -> Optional[str]:
    first = (_output(runner, ["ldd", "--version"]) or "").split("\n", 1)[0]
    if "GLIBC" not in first.upper() and "GNU" not in first.upper():
        return None  # musl's ldd, or none
    return _search(_VERSION + r"\s*$", first)


def _kernel_zstd(release: str) -> Optional[bool]:
    path = f"/boot/config-{release}"
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            config = handle.read()
    except OSError:
        return None
    return "CONFIG_SQUASHFS_ZSTD=y" in config


def detect(runner: Runner = run) -> SiteProfile:
    """This machine's profile; keys whose tool is absent are None."""
    from defkit.arch import host_arch

    family, mpi_version = _mpi(runner)
    apptainer = _search(r"version\s+" + _VERSION, _output(runner, ["apptainer", "--version"]))
    return SiteProfile(
        arch=host_arch(),
        gpu_driver=_gpu_driver(runner),
        mpi_family=family,
        mpi_version=mpi_version,
        pmix=_search(r"PMIx\)?\s*v?" + _VERSION, _output(runner, ["pmix_info", "--version"])),
        ucx=_search(r"Version\s+" + _VERSION, _output(runner, ["ucx_info", "-v"])),
        ofed=_search(r"OFED[A-Z_]*-" + _VERSION, _output(runner, ["ofed_info", "-s"])),
        glibc=_glibc(runner),
        apptainer=apptainer,
        apptainer_zstd=_kernel_zstd(platform.release()) if apptainer else None,
    )
