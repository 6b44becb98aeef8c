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
Every key is optional; a check whose key is absent says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from defkit.errors import ConfigError
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


def read_profile(path: str) -> SiteProfile:
    """The profile in the YAML file `path`; ConfigError naming file, line and key when wrong."""
    from defkit.lint.config_file import _load_yaml

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the site profile: {exc}", path=path) from exc
    data, locate = _load_yaml(text, path)
    return _Reader(path, locate).build(data)


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


class _Reader:
    def __init__(self, path: str, locate: Any) -> None:
        self.path = path
        self.locate = locate

    def fail(self, keys: Sequence[Any], message: str) -> ConfigError:
        return ConfigError(message, path=self.path, span=self.locate(keys))

    def build(self, data: Any) -> SiteProfile:
        from defkit.lint.config import normalise_arch
        from defkit.lint.config_file import did_you_mean

        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.fail([], "the site profile must be a mapping of keys to values")
        for key in data:
            if key not in KEYS:
                raise self.fail([key], f"unknown key {key!r}{did_you_mean(str(key), KEYS)}")
        arch = None
        if "arch" in data:
            arch = normalise_arch(self.text(["arch"], data["arch"]))
            if arch is None:
                raise self.fail(["arch"], f"unknown arch {data['arch']!r}")
        mpi = self.mapping(["mpi"], data.get("mpi", {}), ("family", "version"))
        family = None
        if "family" in mpi:
            family = self.text(["mpi", "family"], mpi["family"]).lower()
            if family not in MPI_FAMILIES:
                hint = did_you_mean(family, MPI_FAMILIES) or f" (one of {', '.join(MPI_FAMILIES)})"
                raise self.fail(["mpi", "family"], f"unknown MPI family {family!r}{hint}")
        apptainer = self.mapping(["apptainer"], data.get("apptainer", {}), ("version", "zstd"))
        zstd = apptainer.get("zstd")
        if zstd is not None and not isinstance(zstd, bool):
            raise self.fail(["apptainer", "zstd"], "zstd must be true or false")
        return SiteProfile(
            arch=arch,
            gpu_driver=self.version(["gpu-driver"], data.get("gpu-driver")),
            mpi_family=family,
            mpi_version=self.version(["mpi", "version"], mpi.get("version")),
            pmix=self.version(["pmix"], data.get("pmix")),
            ucx=self.version(["ucx"], data.get("ucx")),
            ofed=self.version(["ofed"], data.get("ofed")),
            glibc=self.version(["glibc"], data.get("glibc")),
            apptainer=self.version(["apptainer", "version"], apptainer.get("version")),
            apptainer_zstd=zstd,
            path=self.path,
        )

    def text(self, keys: Sequence[Any], value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(keys, f"{keys[-1]} must be a string")
        return value

    def version(self, keys: Sequence[Any], value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise self.fail(
                keys, f'{keys[-1]} must be quoted ("{value}"): YAML reads it as a number'
            )
        text = self.text(keys, value)
        if parse_version(text) is None:
            raise self.fail(keys, f"{keys[-1]} {text!r} is not a version number")
        return text

    def mapping(self, keys: Sequence[Any], value: Any, allowed: Sequence[str]) -> dict[str, Any]:
        from defkit.lint.config_file import did_you_mean

        if not isinstance(value, dict):
            raise self.fail(keys, f"{keys[-1]} must be a mapping ({', '.join(allowed)})")
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f" ({', '.join(allowed)})"
                raise self.fail([*keys, key], f"unknown key {key!r} in {keys[-1]}{hint}")
        return {str(key): item for key, item in value.items()}


def profile_from_mapping(data: Any, path: str = "<site>") -> SiteProfile:
    """A profile from already-loaded data (test cases give the profile inline)."""
    return _Reader(path, lambda keys: None).build(data)
