"""Bootstrap agents: one module per `Bootstrap:` value, in a plain dict.

Apptainer matches the value exactly and case-sensitively (`Docker` is an invalid build source);
`dnf` is an alias of `yum`, `dockerfile` of `buildkit`. Each module has `REQUIRED_KEYS`,
`check(stage, ctx)` (fails at once: missing keys, a mode the agent cannot run in) and
`bootstrap(stage, rootfs, ctx) -> BootstrapResult`, which fills an empty `rootfs` directory and
writes the base `/.singularity.d` as Apptainer's agent would.
"""

from __future__ import annotations

from typing import Protocol

from defkit.engine.agents import (
    debootstrap,
    docker,
    docker_archive,
    library,
    localimage,
    oci,
    oci_archive,
    oras,
    scratch,
    unsupported,
)
from defkit.engine.agents.base import BootstrapResult, DeviceNode, ImageConfig
from defkit.engine.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage

__all__ = [
    "AGENTS", "Agent", "BootstrapResult", "DeviceNode", "ImageConfig", "get",
    "debootstrap", "docker", "docker_archive", "library", "localimage", "oci", "oci_archive",
    "oras", "scratch", "unsupported",
]


class Agent(Protocol):
    REQUIRED_KEYS: tuple[str, ...]

    def check(self, stage: Stage, ctx: BuildContext) -> None: ...

    def bootstrap(self, stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult: ...


AGENTS: dict[str, Agent] = {
    "localimage": localimage,
    "scratch": scratch,
    "debootstrap": debootstrap,
    "oci": oci,
    "oci-archive": oci_archive,
    "docker-archive": docker_archive,
    # Known to Apptainer, not (yet) to defkit's native engine: `check` says what to use instead.
    "docker": docker,
    "library": library,
    "oras": oras,
    "docker-daemon": unsupported,
    "shub": unsupported,
    "yum": unsupported,
    "dnf": unsupported,
    "zypper": unsupported,
    "arch": unsupported,
    "busybox": unsupported,
    "buildkit": unsupported,
    "dockerfile": unsupported,
}


def get(name: str) -> Agent:
    """The agent for a `Bootstrap:` value; Apptainer's error for an unknown one."""
    try:
        return AGENTS[name]
    except KeyError:
        hint = ""
        for known in AGENTS:
            if known.lower() == name.lower():
                hint = f" (agent names are case-sensitive: did you mean {known}?)"
        raise BuildError(f"invalid build source {name}{hint}") from None
