"""What the engine asks of the build cache: the key of a build, and a claim on it (probe under
the key's lock; a hit is placed at the output; a miss is built by the caller, then stored)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from defkit.cache.key import CacheKey, KeyInputs, compute_key
from defkit.cache.store import BuildCache, CacheError, Entry, place
from defkit.cache.tree import StatCache
from defkit.engine.context import CacheStatus, ProgressCallback
from defkit.errors import BuildError, DefkitError
from defkit.model import DefFile, Stage
from defkit.runner import Runner

if TYPE_CHECKING:
    from defkit.cache.stage import StageCache


@dataclass(frozen=True)
class CacheOptions:
    enabled: bool = True  # False: --no-cache (build anyway; the result is still stored)
    only: bool = False  # --cache-only: a miss is an error
    ttl_seconds: Optional[int] = None  # lifetime of keys with impure inputs
    root: Optional[str] = None  # default: CACHE_DIR/builds
    cache_from: tuple[str, ...] = ()  # registry repositories probed on a local miss
    cache_to: Optional[str] = None  # registry repository a new entry is pushed to
    insecure: bool = False  # those registries over plain HTTP


def _mksquashfs(runner: Runner, stat_cache: StatCache) -> dict[str, object]:
    from defkit.squashfs import mksquashfs_argv

    # `mksquashfs -version` is remembered in the stat cache under the binary's identity
    # (device, inode, size, mtime, ctime; a new package is a new file): running it cost about
    # half of a whole cache hit's time.
    binary = shutil.which("mksquashfs")
    info = os.stat(binary) if binary is not None else None
    version = stat_cache.get(info, "mksquashfs-version") if info is not None else None
    if version is None:
        done = runner(["mksquashfs", "-version"], timeout=30)
        lines = (done.stdout or b"").decode("utf-8", "replace").splitlines()
        version = lines[0] if lines else ""
        if info is not None and done.returncode == 0:
            stat_cache.put(info, version, "mksquashfs-version")
    # Processors and paths do not change the image (SOURCE_DATE_EPOCH is keyed on its own).
    flags = mksquashfs_argv("ROOTFS", "OUT", source_date_epoch=0, processors=1)[3:]
    return {"version": version, "flags": flags}


def registry_resolver(def_path: str, arch: str, insecure: bool
                      ) -> Callable[[Stage, str], dict[str, str]]:
    """A `docker`/`oras` base's identity: the lock file's digest when it pins the base, else
    the digest the registry names for the tag now (one request)."""

    def resolve(stage: Stage, agent: str) -> dict[str, str]:
        try:
            return _resolve(stage, agent)
        except DefkitError as exc:
            # As the agents do: the error points at the From: line.
            entry = stage.header_entry("from")
            if exc.path is None and entry is not None:
                exc.path, exc.span = def_path, entry.span
            raise

    def _resolve(stage: Stage, agent: str) -> dict[str, str]:
        from defkit.lock import parse_base, pinned

        ref = parse_base(agent, stage.header_value("from") or "", stage)
        entry = pinned(def_path, stage, arch)
        if entry is not None:
            return {"reference": str(ref), "digest": entry.digest, "manifest": entry.manifest,
                    "pinned-by": "lock"}
        from defkit.registry.client import RegistryClient

        return {"reference": str(ref), "digest": RegistryClient(insecure=insecure).resolve(ref)}

    return resolve


def key_of(def_path: str, deffile: DefFile, *, build_args: Mapping[str, str],
           secrets: Collection[str], arch: str, mode: str, sections: Sequence[str],
           notest: bool, source_date_epoch: int, force: bool, options: CacheOptions, insecure: bool,
           runner: Runner, context_dir: Optional[str] = None,
           files_root: Optional[str] = None) -> CacheKey:
    from defkit import __version__
    from defkit.registry.store import cache_dir

    stat_cache = StatCache(os.path.join(cache_dir(), "stat-cache.json"))
    inputs = KeyInputs(
        def_path=def_path, deffile=deffile, build_args=build_args, secrets=secrets, arch=arch,
        mode=mode, engine="native", engine_version=__version__, sections=sections,
        notest=notest, source_date_epoch=source_date_epoch,
        mksquashfs=_mksquashfs(runner, stat_cache), output_kind="sif", force=force,
        ttl_seconds=options.ttl_seconds, context_dir=context_dir, files_root=files_root,
    )
    key = compute_key(inputs, resolve_registry=registry_resolver(def_path, arch, insecure),
                      stat_cache=stat_cache)
    stat_cache.save()
    return key


class Claim:
    """A build's hold on its key: `hit` is the entry to reuse (None on a miss)."""

    def __init__(self, store: Optional[BuildCache], key: CacheKey, hit: Optional[Entry],
                 progress: ProgressCallback):
        self.store, self.key, self.hit, self.progress = store, key, hit, progress

    def stages(self, options: CacheOptions) -> Optional[StageCache]:
        """Per-stage reuse for a build of this key (None when the store is unusable)."""
        if self.store is None:
            return None
        from defkit.cache.stage import StageCache

        documents = [dict(doc) for doc in self.key.document.get("stages", [])]
        return StageCache(self.store, self.key.stage_keys, documents, reuse=options.enabled,
                          cache_from=options.cache_from, cache_to=options.cache_to,
                          insecure=options.insecure)

    def place(self, target: str) -> None:
        assert self.hit is not None and self.store is not None
        how = place(self.hit.image, target)
        if how == "hardlink":
            # A link changes the inode's ctime: seal the entry again (its content is the one
            # checked an instant ago, under the lock).
            self.store.verify_seal(self.key.key)
        self.progress(CacheStatus(self.key.tag, "hit", f"placed by {how}"))

    def store_output(self, target: str, options: CacheOptions) -> None:
        """Keep the built image (and push it with `cache_to`); a cache that cannot take it
        (full disk, unreachable registry) is a warning only."""
        if self.store is None:
            return
        try:
            self.store.put(self.key.key, target, self.key.document)
        except CacheError as exc:
            self.progress(CacheStatus(self.key.tag, "not-stored", exc.message))
            return
        self.progress(CacheStatus(self.key.tag, "stored"))
        if options.cache_to:
            from defkit.cache import remote

            why = remote.push(options.cache_to, self.key.key, target, self.key.document,
                              insecure=options.insecure)
            self.progress(CacheStatus(self.key.tag, "push-failed" if why else "pushed",
                                       why or options.cache_to))


def _from_registries(store: BuildCache, key: CacheKey, options: CacheOptions,
                     progress: ProgressCallback) -> Optional[Entry]:
    from defkit.cache import remote

    arch = str(key.document["stages"][0]["shared"]["arch"]) if key.document["stages"] else ""
    for repository in options.cache_from:
        path, why = remote.pull(repository, key.key, arch, insecure=options.insecure)
        if why:
            progress(CacheStatus(key.tag, "unreachable", f"{repository}: {why}"))
        elif path is not None:
            try:
                entry = store.put(key.key, path, key.document)
            except CacheError as exc:
                progress(CacheStatus(key.tag, "not-stored", exc.message))
                continue
            progress(CacheStatus(key.tag, "pulled", repository))
            return entry
    return None


@contextlib.contextmanager
def claim(key: CacheKey, options: CacheOptions, progress: ProgressCallback) -> Iterator[Claim]:
    """Probe the store under the key's lock, held until the caller has built and stored (a
    concurrent build of the same key waits here, then finds the entry)."""
    store = BuildCache(options.root)
    try:
        store.prepare()
    except CacheError as exc:
        # An unusable cache (unwritable directory) costs the reuse, not the build.
        if options.only:
            raise
        progress(CacheStatus(key.tag, "unavailable", exc.message))
        yield Claim(None, key, None, progress)
        return
    with store.locked(key.key):
        hit = store.get(key.key) if options.enabled else None
        if hit is None and options.enabled:
            hit = _from_registries(store, key, options, progress)
        if hit is None:
            if options.only:
                raise BuildError(f"--cache-only: no cache entry for {key.tag}")
            progress(CacheStatus(key.tag, "miss"))
        yield Claim(store, key, hit, progress)

__all__ = ["CacheOptions", "Claim", "claim", "key_of", "registry_resolver"]
