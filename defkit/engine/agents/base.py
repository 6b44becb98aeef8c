"""What a bootstrap agent returns, and the checks every agent shares."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from defkit.engine.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config (`config` object) a build uses."""

    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceNode:
    """A device node the rootfs should hold but the builder could not create (not root)."""

    path: str  # container path
    kind: str  # "c" or "b"
    mode: int
    uid: int
    gid: int
    major: int
    minor: int


@dataclass(frozen=True)
class BootstrapResult:
    """What the engine needs to know after an agent filled the rootfs.

    `fakeroot_state`: host path of the fakeroot database the rootfs was built under (debootstrap
    rootless); %post and mksquashfs continue with `fakeroot -i` on it. `oci_config_json`: the raw
    OCI image config for the SIF's `oci-config.json` object. `ownership`: (container path, mode,
    uid, gid) entries extraction could not apply when not root, for mksquashfs pseudo files.
    """

    fakeroot_state: Optional[str] = None
    image_config: Optional[ImageConfig] = None
    oci_config_json: Optional[bytes] = None
    devices: tuple[DeviceNode, ...] = ()
    ownership: tuple[tuple[str, int, int, int], ...] = ()
    warnings: tuple[str, ...] = ()


#: How the header keys are usually written (the model stores them lowercased).
KEY_NAMES = {"from": "From", "mirrorurl": "MirrorURL", "osversion": "OSVersion",
             "include": "Include", "updateurl": "UpdateURL"}


def require_keys(stage: Stage, agent: str, keys: tuple[str, ...]) -> None:
    """Fail at once when a required header key is missing or empty."""
    missing = [key for key in keys if not (stage.header_value(key) or "").strip()]
    if missing:
        names = ", ".join(KEY_NAMES.get(key, key) for key in missing)
        raise BuildError(
            f"Bootstrap: {agent} needs the header key{'s' if len(missing) > 1 else ''} {names}"
        )


def resolve_from(stage: Stage, ctx: BuildContext) -> str:
    """The `From:` path of a local agent, relative paths taken from the def file's directory."""
    value = (stage.header_value("from") or "").strip()
    return os.path.normpath(os.path.join(ctx.def_dir, os.path.expanduser(value)))
