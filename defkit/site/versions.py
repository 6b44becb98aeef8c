"""Dotted version numbers compared as numbers: "12.10" is newer than "12.9"."""

from __future__ import annotations

import re
from typing import Optional

Version = tuple[int, ...]

_LEADING = re.compile(r"\d+(?:\.\d+)*")


def parse_version(text: Optional[str]) -> Optional[Version]:
    """The leading dotted numbers of `text` ("4.1.5rc2" -> (4, 1, 5)); None when there are none."""
    if not text:
        return None
    match = _LEADING.search(text)
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def version_text(version: Version) -> str:
    return ".".join(str(part) for part in version)
