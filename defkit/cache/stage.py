"""Per-stage reuse: the rootfs of each stage before the last, kept in the build cache under the
stage's own key (chained from the keys of the stages it copies from, see `defkit.cache.key`).

What a later stage takes from an earlier one is what `%files from` copies out of its rootfs
(`Root.copy_in` with a source root): content, modes, symlinks, mtimes of non-directories, and
owners and device nodes when the build runs as root. The entry is an uncompressed POSIX tar of
the rootfs (GNU tar, fast in C, reading the tree as the build's namespace sees it, as mksquashfs
does), unpacked by `extract_tar` (Python, checked, never outside the root): a tar keeps all of
the above, and unpacking it costs a sequential read, far less than the stage's `%post`.
Xattrs are not kept: `%files from` does not copy them either.

A stage that cannot be archived (a file the builder cannot read, a full disk) is a warning: the
build goes on, the stage is simply not reused next time.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from defkit.cache.store import BuildCache, CacheError, Entry
from defkit.engine.context import BuildContext, CacheStatus
from defkit.errors import DefkitError

#: GNU tar: POSIX format (mtimes in nanoseconds, long names), numeric ids, one file system.
_TAR_FLAGS = ["--create", "--format=posix", "--numeric-owner", "--one-file-system"]


def _tag(key: str) -> str:
    return f"sha256-{key}"


class StageCache:
    """The stage keys of one build and the store they are kept in."""

    def __init__(self, store: BuildCache, keys: Sequence[str],
                 documents: Sequence[dict[str, Any]], *, reuse: bool,
                 cache_from: Sequence[str] = (), cache_to: Optional[str] = None,
                 insecure: bool = False):
        self.store = store
        self.keys = list(keys)
        self.documents = list(documents)
        self.reuse = reuse  # False with --no-cache: build every stage (and store it)
        self.cache_from = tuple(cache_from)  # registries probed on a local miss
        self.cache_to = cache_to  # the registry a newly kept stage is pushed to
        self.insecure = insecure

    @contextlib.contextmanager
    def claim(self, index: int, ctx: BuildContext) -> Iterator[Optional[Entry]]:
        """Hold stage `index`'s key (0-based) while it is probed (the store, then each
        `cache_from` registry), and built and stored on a miss: two builds sharing a first
        stage build it once. Yields the entry on a hit."""
        key = self.keys[index]
        with self.store.locked(key):
            hit = self.store.get(key) if self.reuse else None
            if hit is None and self.reuse:
                hit = self._from_registries(index, ctx)
            yield hit

    def _from_registries(self, index: int, ctx: BuildContext) -> Optional[Entry]:
        from defkit.cache import remote

        key = self.keys[index]
        for repository in self.cache_from:
            path, why = remote.pull_stage(repository, key, insecure=self.insecure)
            if why:
                ctx.emit(CacheStatus(_tag(key), "unreachable", f"{repository}: {why}"))
            elif path is not None:
                try:
                    entry = self.store.put(key, path, self._document(index))
                except CacheError as exc:
                    ctx.emit(CacheStatus(_tag(key), "not-stored", exc.message))
                    continue
                ctx.emit(CacheStatus(_tag(key), "pulled", repository))
                return entry
        return None

    def _document(self, index: int) -> dict[str, Any]:
        return {"kind": "stage", "format": "tar", **self.documents[index]}

    def restore(self, entry: Entry, rootfs: str, ctx: BuildContext) -> None:
        from defkit.engine.extract import extract_tar

        extract_tar(entry.image, rootfs, exact_dir_modes=True, runner=ctx.runner)

    def keep(self, index: int, rootfs: str, ctx: BuildContext, label: str) -> None:
        """Archive the stage's rootfs into the store under its key (a warning on failure)."""
        key = self.keys[index]
        try:
            scratch = self.store.scratch()
        except CacheError as exc:
            ctx.emit(CacheStatus(_tag(key), "not-stored", f"{label}: {exc.message}"))
            return
        except OSError as exc:  # no room for even a directory
            ctx.emit(CacheStatus(_tag(key), "not-stored", f"{label}: {exc.strerror}"))
            return
        try:
            archive = f"{scratch}/rootfs.tar"
            why = _archive(rootfs, archive, ctx)
            if why is None:
                entry = self.store.put(key, archive, self._document(index), take=True)
                if self.cache_to:
                    self._push(key, entry, index, ctx)
        except CacheError as exc:
            why = exc.message
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if why is not None:
            ctx.emit(CacheStatus(_tag(key), "not-stored", f"{label}: {why}"))

    def _push(self, key: str, entry: Entry, index: int, ctx: BuildContext) -> None:
        from defkit.cache import remote

        assert self.cache_to is not None
        why = remote.push_stage(self.cache_to, key, entry.image, self._document(index),
                                insecure=self.insecure)
        ctx.emit(CacheStatus(_tag(key), "push-failed" if why else "pushed",
                             why or self.cache_to))


def _archive(rootfs: str, archive: str, ctx: BuildContext) -> Optional[str]:
    """Write `rootfs` as a tar at `archive`; None, or why it could not be done."""
    from defkit.engine.pack import squash_wrapper

    # Rootless, tar runs in the build's user namespace (as mksquashfs does): files owned by
    # subordinate ids are readable there, and owners are recorded as the image has them.
    argv = [*squash_wrapper(ctx, None), "tar", *_TAR_FLAGS, "--file", archive,
            "--directory", rootfs, "."]
    try:
        done = ctx.runner(argv, timeout=None)
    except DefkitError as exc:
        return exc.message
    if done.returncode != 0:
        lines = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return f"tar failed (exit {done.returncode}): {lines[-1] if lines else ''}".rstrip(": ")
    return None


__all__ = ["StageCache"]
