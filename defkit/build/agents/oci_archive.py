"""(work in progress)"""

from __future__ import annotations

from defkit.build.agents.base import BootstrapResult
from defkit.build.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    raise BuildError("not implemented yet")


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    raise BuildError("not implemented yet")
