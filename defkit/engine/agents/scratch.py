"""`Bootstrap: scratch`: an empty rootfs with only the base `/.singularity.d`; fill it with
%setup or %files."""

from __future__ import annotations

from defkit.engine import layout
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ()


def check(stage: Stage, ctx: BuildContext) -> None:
    """Scratch needs nothing and works in every mode."""


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    layout.make_base_env(rootfs, overwrite=True)
    return BootstrapResult()
