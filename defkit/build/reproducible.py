"""Reproducibility: the build time, and the files that would otherwise differ between two builds.

The time of a build is SOURCE_DATE_EPOCH: from the environment when set (the reproducible-builds
convention), else the last commit time of the def file in its git repository, else 0. It is used
for labels, squashfs inode and superblock times, and reaches %post (Python writes hash-based
`.pyc` files when it is set). SIF header and descriptor times come from the writer's deterministic
mode. What remains is content some tools stamp with the wall clock or a random order: those files
are removed or emptied after the last section of a stage ran.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping

from defkit.runner import Runner, run

#: Logs and caches that record the time of the build: removed (they are rebuilt on demand).
VOLATILE_REMOVE = (
    "var/cache/ldconfig/aux-cache",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/log/apt/eipp.log.xz",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/statoverride-old",
    ".build.labels",
)
#: Logs kept as empty files (packages expect them to exist).
VOLATILE_TRUNCATE = (
    "var/log/dpkg.log",
    "var/log/alternatives.log",
    "var/log/bootstrap.log",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/lastlog",
    "var/log/faillog",
    "var/log/wtmp",
    "var/log/btmp",
)


def source_date_epoch(
    def_path: str, *, environ: Mapping[str, str] = os.environ, runner: Runner = run
) -> int:
    """SOURCE_DATE_EPOCH from the environment, else the def file's last commit time, else 0."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    directory = os.path.dirname(os.path.abspath(def_path))
    try:
        result = runner(["git", "log", "-1", "--format=%ct", "--", os.path.basename(def_path)],
                        cwd=directory, env={**environ, "GIT_TERMINAL_PROMPT": "0"})
    except Exception:  # noqa: BLE001 - no git at all: the documented fallback
        return 0
    text = result.stdout.decode("ascii", "replace").strip() if result.returncode == 0 else ""
    return int(text) if text.isdigit() else 0


def _inside(rootfs: str, relative: str) -> str | None:
    """`relative` under rootfs unless a parent is a symlink (never touch host files)."""
    path = rootfs
    for part in relative.split("/"):
        path = os.path.join(path, part)
        if os.path.islink(path):
            return None
    return path


def normalise_rootfs(rootfs: str) -> list[str]:
    """Remove or empty the volatile files; returns the container paths changed."""
    changed: list[str] = []
    for relative in VOLATILE_REMOVE:
        path = _inside(rootfs, relative)
        if path is not None and os.path.isfile(path):
            os.unlink(path)
            changed.append("/" + relative)
    for relative in VOLATILE_TRUNCATE:
        path = _inside(rootfs, relative)
        if path is not None and _truncate(path):
            changed.append("/" + relative)
    return changed


def _truncate(path: str) -> bool:
    """Empty the regular file `path`; a symlink, FIFO or device swapped in is left alone (the
    open neither follows nor blocks)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC)  # fmt: skip
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        os.ftruncate(fd, 0)
        return True
    finally:
        os.close(fd)


def clamp_mtimes(rootfs: str, epoch: int) -> None:
    """Set every mtime newer than `epoch` to `epoch` (sandbox outputs; squashfs sets all times
    itself with `-all-time`). Any depth; symlinks get their own time, never their target's."""
    from defkit.build.treewalk import bottom_up

    for dir_fd, name, info in bottom_up(rootfs):
        if info.st_mtime > epoch:
            with contextlib.suppress(OSError):
                os.utime(name, (epoch, epoch), dir_fd=dir_fd, follow_symlinks=False)
    with contextlib.suppress(OSError):
        if os.lstat(rootfs).st_mtime > epoch:
            os.utime(rootfs, (epoch, epoch), follow_symlinks=False)
