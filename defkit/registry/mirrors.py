"""Pull mirrors from a `registries.conf` (containers-registries.conf(5), version 2), as
Apptainer gets them through containers/image: a mirror is tried before the registry it mirrors,
and the registry itself is the fallback.

Read: `[[registry]]` tables with `prefix` (or `location`) and their `[[registry.mirror]]`
tables' `location`, `insecure` and `pull-from-mirror = "digest-only"` (or the registry's
`mirror-by-digest-only`). Not read: `registries.conf.d` drop-ins, `blocked`, search lists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from defkit.errors import ConfigError
from defkit.registry.errors import ReferenceError_
from defkit.registry.reference import ImageRef, normalise_registry


@dataclass(frozen=True)
class Mirror:
    location: str  # host[:port][/namespace]
    insecure: bool = False
    digest_only: bool = False


@dataclass(frozen=True)
class MirrorRule:
    prefix: str  # "docker.io", "docker.io/library", "quay.io/org"
    mirrors: tuple[Mirror, ...]

    def matches(self, ref: ImageRef) -> Optional[str]:
        """The rest of `ref`'s name after the prefix ("" or "/…"), or None."""
        name = f"{ref.registry}/{ref.repository}"
        if name == self.prefix or name.startswith(self.prefix.rstrip("/") + "/"):
            return name[len(self.prefix.rstrip("/")) :]
        return None


def mirrored(rules: Sequence[MirrorRule], ref: ImageRef) -> list[tuple[ImageRef, bool]]:
    """The (mirror reference, insecure) pairs to try for `ref`, longest prefix's rule only."""
    best: Optional[tuple[MirrorRule, str]] = None
    for rule in rules:
        rest = rule.matches(ref)
        if rest is not None and (best is None or len(rule.prefix) > len(best[0].prefix)):
            best = (rule, rest)
    if best is None:
        return []
    rule, rest = best
    found = []
    for mirror in rule.mirrors:
        if mirror.digest_only and ref.digest is None:
            continue
        host, _, namespace = mirror.location.strip("/").partition("/")
        try:
            registry = normalise_registry(host)
        except ReferenceError_:
            continue
        repository = f"{namespace}{rest}".strip("/")
        found.append((ImageRef(registry, repository, ref.tag, ref.digest), mirror.insecure))
    return found


def default_config_path(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`$CONTAINERS_REGISTRIES_CONF`, else the user's file, else the system's (first found)."""
    env = os.environ if env is None else env
    explicit = env.get("CONTAINERS_REGISTRIES_CONF")
    if explicit:
        return explicit
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    for path in (os.path.join(config_home, "containers", "registries.conf"),
                 "/etc/containers/registries.conf"):
        if os.path.isfile(path):
            return path
    return None


def load_rules(path: Optional[str] = None) -> list[MirrorRule]:
    """The mirror rules of `path` (default: default_config_path()); [] when there is none."""
    path = path or default_config_path()
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read registries.conf: {exc}", path=path) from None
    from defkit.tomlfile import load_toml

    document = load_toml(text, path)
    rules = []
    for table in document.get("registry", []) if isinstance(document, dict) else []:
        rule = _rule(table, path)
        if rule is not None:
            rules.append(rule)
    return rules


def _rule(table: Any, path: str) -> Optional[MirrorRule]:
    if not isinstance(table, dict):
        raise ConfigError("each [[registry]] must be a table", path=path)
    prefix = table.get("prefix") or table.get("location")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError("a [[registry]] needs a `prefix` or a `location`", path=path)
    if prefix in ("index.docker.io", "registry-1.docker.io"):
        prefix = "docker.io"
    digest_only = table.get("mirror-by-digest-only") is True
    mirrors = []
    for entry in table.get("mirror", []):
        location = entry.get("location") if isinstance(entry, dict) else None
        if not isinstance(location, str) or not location:
            raise ConfigError(f"a mirror of {prefix} needs a `location`", path=path)
        mirrors.append(Mirror(
            location,
            insecure=entry.get("insecure") is True,
            digest_only=digest_only or entry.get("pull-from-mirror") == "digest-only",
        ))
    return MirrorRule(prefix, tuple(mirrors)) if mirrors else None
