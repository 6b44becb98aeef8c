"""Read a site profile file (`--site FILE`, `site:` in the configuration): every error names
the file, line and key, as the configuration's do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from defkit.errors import ConfigError
from defkit.lint.config import normalise_arch
from defkit.site.profile import KEYS, MPI_FAMILIES, SiteProfile
from defkit.site.versions import parse_version
from defkit.yamlfile import did_you_mean, load_yaml


def read_profile(path: str) -> SiteProfile:
    """The profile in the YAML file `path`; ConfigError naming file, line and key when wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the site profile: {exc}", path=path) from exc
    data, locate = load_yaml(text, path)
    return _Reader(path, locate).build(data)


class _Reader:
    def __init__(self, path: str, locate: Any) -> None:
        self.path = path
        self.locate = locate

    def fail(self, keys: Sequence[Any], message: str) -> ConfigError:
        return ConfigError(message, path=self.path, span=self.locate(keys))

    def build(self, data: Any) -> SiteProfile:
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
