"""defkit's build engine. `build()` is the public entry point; importing this package is cheap (the
engine is imported when a build starts), so agents can import `defkit.build.context` freely."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from defkit.build.engine import BuildResult


def build(*args: Any, **kwargs: Any) -> BuildResult:
    """Build a definition file; see `defkit.build.engine.build` for the options."""
    from defkit.build.engine import build as _build

    return _build(*args, **kwargs)
