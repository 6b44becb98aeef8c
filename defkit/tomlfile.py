"""The project's one TOML reader: a decode error becomes a positioned ConfigError."""

from __future__ import annotations

import re
import sys
from typing import Any

from defkit.errors import ConfigError
from defkit.model import Span


def load_toml(text: str, path: str) -> dict[str, Any]:
    """The TOML document in `text` (read from `path`, named in errors)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on old Pythons only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+), column (\d+)", str(exc))
        span = (
            Span(int(found[1]), int(found[2]), int(found[1]), int(found[2]) + 1) if found else None
        )
        raise ConfigError(f"invalid TOML: {exc}", path=path, span=span) from exc
