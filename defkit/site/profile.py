"""The site profile file: what the nodes an image will run on provide.

```yaml
arch: amd64
gpu-driver: "550.54.15"      # nvidia-smi's driver version; absent: no NVIDIA GPUs
mpi: {family: openmpi, version: "4.1.6"}   # openmpi | mpich | intel-mpi | cray-mpich | mvapich2
pmix: "4.2.9"
ucx: "1.16.0"
ofed: "23.10"
glibc: "2.34"
apptainer: {version: "1.3.4", zstd: true}  # zstd: reads squashfs compressed with zstd
```
Every key is optional; a check whose key is absent says nothing. Reading the file (with
positioned errors) is `defkit.lint.config_site`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from defkit.site.versions import Version, parse_version

MPI_FAMILIES = ("openmpi", "mpich", "intel-mpi", "cray-mpich", "mvapich2")
#: MPI families that share the MPICH ABI (an image built with MPICH runs with the host's library).
MPICH_ABI = frozenset({"mpich", "intel-mpi", "cray-mpich", "mvapich2"})
KEYS = ("arch", "gpu-driver", "mpi", "pmix", "ucx", "ofed", "glibc", "apptainer")


@dataclass(frozen=True)
class SiteProfile:
    arch: Optional[str] = None
    gpu_driver: Optional[str] = None
    mpi_family: Optional[str] = None
    mpi_version: Optional[str] = None
    pmix: Optional[str] = None
    ucx: Optional[str] = None
    ofed: Optional[str] = None
    glibc: Optional[str] = None
    apptainer: Optional[str] = None
    apptainer_zstd: Optional[bool] = None
    path: Optional[str] = None  # the file it was read from, for messages

    def version(self, name: str) -> Optional[Version]:
        """A version field parsed ("gpu_driver", "mpi_version", "pmix", "glibc", ...)."""
        value = getattr(self, name)
        return parse_version(value) if isinstance(value, str) else None


def profile_yaml(profile: SiteProfile) -> str:
    """The profile as the YAML file `read_profile` reads (absent values left out)."""
    lines = ["# defkit site profile (`defkit site detect`); every key is optional."]

    def text(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    if profile.arch:
        lines.append(f"arch: {profile.arch}")
    if profile.gpu_driver:
        lines.append(f"gpu-driver: {text(profile.gpu_driver)}")
    if profile.mpi_family:
        version = f", version: {text(profile.mpi_version)}" if profile.mpi_version else ""
        lines.append(f"mpi: {{family: {profile.mpi_family}{version}}}")
    for key in ("pmix", "ucx", "ofed", "glibc"):
        value = getattr(profile, key)
        if value:
            lines.append(f"{key}: {text(value)}")
    if profile.apptainer:
        zstd = ""
        if profile.apptainer_zstd is not None:
            zstd = f", zstd: {str(profile.apptainer_zstd).lower()}"
        lines.append(f"apptainer: {{version: {text(profile.apptainer)}{zstd}}}")
    return "\n".join(lines) + "\n"
