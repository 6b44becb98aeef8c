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
from defkit.safepath import Root

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
    except Exception:  # no git at all: the documented fallback
        return 0
    text = result.stdout.decode("ascii", "replace").strip() if result.returncode == 0 else ""
    return int(text) if text.isdigit() else 0


def normalise_rootfs(rootfs: str) -> list[str]:
    """Remove or empty the volatile files (regular files only, resolved inside the rootfs);
    returns the container paths changed."""
    changed: list[str] = []
    with Root(rootfs) as root:
        for relative in VOLATILE_REMOVE:
            info = root.lstat(relative)
            if info is not None and stat.S_ISREG(info.st_mode):
                root.remove(relative)
                changed.append("/" + relative)
        for relative in VOLATILE_TRUNCATE:
            if root.truncate(relative):
                changed.append("/" + relative)
    return changed


def clamp_mtimes(rootfs: str, epoch: int) -> None:
    """Set every mtime newer than `epoch` to `epoch` (sandbox outputs; squashfs sets all times
    itself with `-all-time`). Any depth; symlinks get their own time, never their target's."""
    with Root(rootfs) as root:
        for dir_fd, name, info in root.walk():
            if info.st_mtime > epoch:
                with contextlib.suppress(OSError):
                    os.utime(name, (epoch, epoch), dir_fd=dir_fd, follow_symlinks=False)
        if os.stat(".", dir_fd=root.fd).st_mtime > epoch:
            os.utime(".", (epoch, epoch), dir_fd=root.fd, follow_symlinks=False)
