"""Choosing the image for one platform from an image index (an OCI index or a Docker manifest
list): the registry-manifest logic shared by the engine's image sources, `defkit lock` and the
ORAS SIF pull."""

from __future__ import annotations

from typing import Any, Optional

from defkit.errors import BuildError

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
REF_ANNOTATION = "org.opencontainers.image.ref.name"

#: The variant an index entry without one stands for, and the one picked when `--arch` names
#: none and an index has several (Docker's defaults).
DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


def split_arch(arch: str) -> tuple[str, Optional[str]]:
    """`arm/v7` -> ("arm", "v7"); `amd64` -> ("amd64", None); `linux/arm64/v8` accepted too."""
    parts = [part for part in arch.strip().split("/") if part]
    if parts and parts[0] == "linux":
        parts = parts[1:]
    if not parts:
        raise BuildError(f"invalid architecture {arch!r}")
    return parts[0], (parts[1] if len(parts) > 1 else None)


def _platform_ok(entry: dict[str, Any], arch: str) -> bool:
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return True
    architecture, variant = split_arch(arch)
    if platform.get("architecture") != architecture or platform.get("os", "linux") != "linux":
        return False
    if variant is None:
        return True
    return (platform.get("variant") or DEFAULT_VARIANTS.get(architecture)) == variant


def platform_name(entry: dict[str, Any]) -> str:
    platform = entry.get("platform") or {}
    name = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
    return name + (f"/{platform['variant']}" if platform.get("variant") else "")


def describe_entries(entries: list[dict[str, Any]]) -> str:
    names = []
    for entry in entries:
        ref = (entry.get("annotations") or {}).get(REF_ANNOTATION, "")
        names.append(f"{ref or entry.get('digest', '?')} ({platform_name(entry)})")
    return ", ".join(names)


def select_platform(entries: list[dict[str, Any]], arch: str, where: str) -> dict[str, Any]:
    """The entry of an image index for linux/`arch` (variant-aware); an error listing the
    platforms the index has when none matches."""
    matching = [e for e in entries if _platform_ok(e, arch)]
    if len({e.get("digest") for e in matching}) > 1:
        architecture, variant = split_arch(arch)
        default = DEFAULT_VARIANTS.get(architecture)
        if variant is None and default is not None:
            preferred = [e for e in matching
                         if ((e.get("platform") or {}).get("variant") or default) == default]
            matching = preferred or matching
    if not matching:
        listed = ", ".join(sorted({platform_name(e) for e in entries})) or "none"
        raise BuildError(f"{where}: no image for linux/{arch} (the index has: {listed})")
    if len({e.get("digest") for e in matching}) > 1:
        raise BuildError(f"{where}: several images match ({describe_entries(matching)}); "
                         "name one with From: PATH:TAG")
    return matching[0]


def is_index(media_type: Optional[str], document: dict[str, Any]) -> bool:
    return media_type in INDEX_TYPES or document.get("mediaType") in INDEX_TYPES \
        or "manifests" in document
