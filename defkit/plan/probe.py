"""Key every build with the engine's own key code (`defkit build --explain-key`) and ask the
caches: the local store first, then each `--cache-from` registry (one manifest HEAD each).

A build that bootstraps from another's output is keyed by that output's content, so it can be
keyed only once the output exists: after a hit, the cached image is placed there first (as
`defkit build` of that def would place it); after a miss, the build is a miss too and waits
for it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from defkit.plan.graph import Build, closure

if TYPE_CHECKING:
    from defkit.cache.hook import CacheOptions
    from defkit.cache.key import CacheKey

#: What a probe found.
MISS, AFTER, LOCAL, REGISTRY = "miss", "after-dependency", "local", "registry"


@dataclass(frozen=True)
class BuildOptions:
    """The `defkit build` options every build of the plan gets: they are part of the key."""

    fakeroot: bool = False
    arch: Optional[str] = None
    notest: bool = False
    cache_ttl: Optional[str] = None
    cache_from: tuple[str, ...] = ()
    cache_to: Optional[str] = None
    insecure: bool = False

    def argv(self) -> list[str]:
        words = ["--fakeroot"] if self.fakeroot else []
        if self.arch:
            words += ["--arch", self.arch]
        if self.notest:
            words.append("--notest")
        if self.cache_ttl:
            words += ["--cache-ttl", self.cache_ttl]
        for repository in self.cache_from:
            words += ["--cache-from", repository]
        if self.cache_to:
            words += ["--cache-to", self.cache_to]
        if self.insecure:
            words.append("--insecure")
        return words


@dataclass(frozen=True)
class Planned:
    build: Build
    status: str  # MISS, AFTER, LOCAL or REGISTRY
    key: Optional[str]  # `sha256-<hex>`; None for AFTER (its base is not built yet)
    where: str = ""  # the registry of a REGISTRY hit
    level: int = 0  # misses: 0 = nothing to wait for, n = after level n-1
    requires: tuple[Build, ...] = ()  # builds whose outputs must exist first, in order


@dataclass(frozen=True)
class Plan:
    builds: tuple[Planned, ...]  # every build, in dependency order
    options: BuildOptions
    warnings: tuple[str, ...] = field(default=())

    @property
    def misses(self) -> list[Planned]:
        return sorted((p for p in self.builds if p.status in (MISS, AFTER)),
                      key=lambda p: p.level)  # stable: dependency order within a level

    @property
    def levels(self) -> list[list[Planned]]:
        found: list[list[Planned]] = []
        for planned in self.misses:
            while len(found) <= planned.level:
                found.append([])
            found[planned.level].append(planned)
        return found


def make_plan(builds: Sequence[Build], options: BuildOptions, *, fetch: bool = True) -> Plan:
    from defkit.cache import remote
    from defkit.cache.hook import CacheOptions
    from defkit.cache.store import BuildCache, parse_age
    from defkit.engine.engine import explain_key

    cache = CacheOptions(ttl_seconds=parse_age(options.cache_ttl) if options.cache_ttl else None,
                         cache_from=options.cache_from, insecure=options.insecure)
    store = BuildCache()
    by_name = {build.name: build for build in builds}
    done: dict[str, Planned] = {}
    keys: dict[str, CacheKey] = {}
    warnings: list[str] = []
    for build in builds:
        requires = tuple(closure(build, by_name))
        waiting = [done[name] for name in build.needs if done[name].status in (MISS, AFTER)]
        if waiting:
            level = 1 + max(p.level for p in waiting)
            done[build.name] = Planned(build, AFTER, None, level=level, requires=requires)
            continue
        for name in build.needs:
            _materialise(done[name].build, keys[name], cache, fetch)
        key = explain_key(build.def_path, fakeroot=options.fakeroot, arch=options.arch,
                          notest=options.notest, insecure=options.insecure, cache=cache)
        keys[build.name] = key
        if store.get(key.key) is not None:
            done[build.name] = Planned(build, LOCAL, key.tag, requires=requires)
            continue
        where = ""
        for repository in options.cache_from:
            found, why = remote.has(repository, key.key, insecure=options.insecure)
            if why:
                warnings.append(f"cache {repository} unreachable ({why}): "
                                f"{build.name} counted as a miss")
            elif found:
                where = repository
                break
        status = REGISTRY if where else MISS
        done[build.name] = Planned(build, status, key.tag, where, requires=requires)
    return Plan(tuple(done[build.name] for build in builds), options, tuple(warnings))


def _materialise(build: Build, key: CacheKey, cache: CacheOptions, fetch: bool) -> None:
    """Place a cached dependency's image at its output, so its dependants can be keyed."""
    from defkit.cache.hook import claim
    from defkit.errors import UsageError

    if os.path.lexists(build.output):
        return
    if not fetch:
        raise UsageError(f"{build.output} is cached but not here, and --no-fetch keeps plan "
                         "from placing it: its dependants cannot be keyed")
    with claim(key, cache, lambda event: None) as held:
        if held.hit is not None:
            held.place(build.output)
