"""Bootstrap agents: one module per `Bootstrap:` value, named in a plain dict.

Apptainer matches the value exactly and case-sensitively (`Docker` is an invalid build source);
`dnf` is an alias of `yum`, `dockerfile` of `buildkit`. Each module has `REQUIRED_KEYS`,
`check(stage, ctx)` (fails at once: missing keys, a mode the agent cannot run in) and
`bootstrap(stage, rootfs, ctx) -> BootstrapResult`, which fills an empty `rootfs` directory and
writes the base `/.singularity.d` as Apptainer's agent would.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage


class Agent(Protocol):
    REQUIRED_KEYS: tuple[str, ...]

    def check(self, stage: Stage, ctx: BuildContext) -> None: ...

    def bootstrap(self, stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult: ...


# `Bootstrap:` value -> the agent's module in this package, imported by `get` when a stage needs
# it: a build imports its own agents only (the docker agent alone pulls in jinja2 and the
# registry's image code, a third of `defkit build`'s start-up on a cache hit).
AGENTS: dict[str, str] = {
    "localimage": "localimage",
    "scratch": "scratch",
    "debootstrap": "debootstrap",
    "oci": "oci",
    "oci-archive": "oci_archive",
    "docker-archive": "docker_archive",
    "docker": "docker",
    "library": "library",
    "oras": "oras",
    "buildkit": "dockerfile",
    "dockerfile": "dockerfile",
    # Known to Apptainer, not (yet) to defkit's native engine: `check` says what to use instead.
    "docker-daemon": "unsupported",
    "shub": "unsupported",
    "yum": "unsupported",
    "dnf": "unsupported",
    "zypper": "unsupported",
    "arch": "unsupported",
    "busybox": "unsupported",
}


def get(name: str) -> Agent:
    """The agent for a `Bootstrap:` value; Apptainer's error for an unknown one."""
    module = AGENTS.get(name)
    if module is None:
        hint = ""
        for known in AGENTS:
            if known.lower() == name.lower():
                hint = f" (agent names are case-sensitive: did you mean {known}?)"
        raise BuildError(f"invalid build source {name}{hint}")
    return cast(Agent, importlib.import_module(f"{__name__}.{module}"))
