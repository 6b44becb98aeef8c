"""Agents Apptainer knows that defkit's native engine does not run (yet).

`check` fails at once, saying what to use instead, before anything is built.
"""

from __future__ import annotations

from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ()

_INSTEAD = {
    "docker-daemon": "export it with `docker save IMAGE -o image.tar` and use "
    "`Bootstrap: docker-archive`",
    "shub": "download the image and use `Bootstrap: localimage`",
    "busybox": "use `Bootstrap: localimage` with a busybox rootfs "
    "(`python -m defkit.engine.busybox_rootfs DIR`), or `Bootstrap: scratch` and copy a static "
    "busybox in %files",
}
_PACKAGE_MANAGERS = ("yum", "dnf", "zypper", "arch")


def check(stage: Stage, ctx: BuildContext) -> None:
    name = stage.bootstrap or ""
    if name in _PACKAGE_MANAGERS:
        instead = ("start from an image of that distribution (`Bootstrap: oci`, "
                   "`oci-archive`, `docker-archive` or `localimage`), or build with "
                   "`--engine apptainer` as root")
    else:
        instead = _INSTEAD.get(name, "")
    raise BuildError(
        f"Bootstrap: {name} is not supported by defkit's native engine yet; {instead}"
    )


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    raise AssertionError("unreachable")  # check always raises
