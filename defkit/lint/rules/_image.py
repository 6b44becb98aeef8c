"""Base image references: the `From:` value of the agents that pull a named, tagged image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from defkit.lint.rules._common import is_templated

#: Agents whose `From:` is `[registry/]repository[:tag][@digest]`, resolved at build time.
REGISTRY_AGENTS = frozenset({"docker", "oras", "library", "shub"})


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "" when the reference names none (the agent's default registry)
    repository: str
    tag: Optional[str]
    digest: Optional[str]


def parse_image(value: str) -> Optional[ImageRef]:
    """The parts of an image reference; None when it is templated or empty."""
    value = value.strip()
    for scheme in ("docker://", "library://", "oras://", "shub://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    if not value or is_templated(value) or any(char.isspace() for char in value):
        return None
    digest: Optional[str] = None
    if "@" in value:
        value, digest = value.split("@", 1)
    registry = ""
    first, slash, rest = value.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, value = first, rest
    tag: Optional[str] = None
    name, colon, maybe_tag = value.rpartition(":")
    if colon and "/" not in maybe_tag:
        value, tag = name, maybe_tag
    return ImageRef(registry, value, tag, digest)


def stage_image(bootstrap: Optional[str], from_value: Optional[str]) -> Optional[ImageRef]:
    """The image a stage pulls, when its agent pulls one by name and the value is literal."""
    if bootstrap not in REGISTRY_AGENTS or from_value is None:
        return None
    return parse_image(from_value)
