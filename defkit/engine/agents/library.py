"""`Bootstrap: library`: a SIF from a Sylabs Library API server (`Library:` names it).

Not implemented: the public Sylabs library needs a token and cannot be reached from here, and
defkit's own library server does not exist yet, so a client could not be tested against a real
server. `check` fails at once with what is missing and what works instead.
"""

from __future__ import annotations

from defkit.engine.agents.base import BootstrapResult, require_keys
from defkit.engine.context import BuildContext
from defkit.errors import BuildError
from defkit.model import Stage

REQUIRED_KEYS: tuple[str, ...] = ("from",)


def check(stage: Stage, ctx: BuildContext) -> None:
    require_keys(stage, "library", REQUIRED_KEYS)
    server = (stage.header_value("library") or "").strip() or "https://library.sylabs.io"
    source = (stage.header_value("from") or "").strip()
    raise BuildError(
        f"Bootstrap: library (From: {source}, Library: {server}): defkit has no Sylabs Library "
        "API client yet (no library server to test one against); push the SIF to an OCI "
        "registry and use `Bootstrap: oras`, download it and use `Bootstrap: localimage`, or "
        "build with `--engine apptainer`"
    )


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    raise AssertionError("unreachable")  # check always raises
