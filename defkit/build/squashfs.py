"""Make and read squashfs images with squashfs-tools, reproducibly.

The flags are the ones the SIF spec §5 found to give the same bytes across runs, touched files,
processor counts and copied trees with mksquashfs 4.5.1:
`-noappend -comp gzip -no-xattrs -mkfs-time T -all-time T -quiet -no-progress` (+ `-all-root`).
SOURCE_DATE_EPOCH is removed from mksquashfs's environment: 4.5.1 refuses it together with the
time flags ("can't be used at the same time").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SquashEntry:
    """One line of `unsquashfs -lln`: path relative to the image root ("" for the root)."""

    mode: str  # e.g. "drwxr-xr-x", "crw-rw-rw-"
    uid: int
    gid: int
    size: str  # byte count, or "MAJ,MIN" for devices
    path: str
    target: str | None  # symlink target


def mksquashfs_argv(
    rootfs: PathLike,
    out_path: PathLike,
    *,
    source_date_epoch: int,
    processors: int | None = None,
    all_root: bool = True,
    pseudo_file: str | None = None,
    excludes: Sequence[str] = (),
    progress: bool = False,
) -> list[str]:
    """The mksquashfs command line (without any wrapper); exposed for logs and tests."""
    raise NotImplementedError


def make_squashfs(
    rootfs: PathLike,
    out_path: PathLike,
    *,
    source_date_epoch: int,
    processors: int | None = None,
    all_root: bool = True,
    pseudo_file: str | None = None,
    excludes: Sequence[str] = (),
    wrapper: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> None:
    """Squash `rootfs` into `out_path` (temp name in the same dir, then rename).

    `source_date_epoch` sets every inode time and the superblock time. `processors` defaults to
    all cores. `all_root` makes every file 0:0 (turn it off when ownership comes from a wrapper,
    e.g. `wrapper=["unshare", "-r", "fakeroot", "-i", STATE, "--"]`, or from `pseudo_file`, a
    mksquashfs `-pf` definitions file). `excludes` are paths relative to the rootfs (`-e`).
    `progress` receives 0.0-100.0 as mksquashfs reports it. Raises BuildError with mksquashfs's
    message on failure, ToolMissingError when mksquashfs is absent.
    """
    raise NotImplementedError


def unsquash_list(path: PathLike, offset: int = 0) -> list[SquashEntry]:
    """Every entry of the squashfs at `offset` in `path` (`unsquashfs -o OFFSET -lln`)."""
    raise NotImplementedError


def unsquash_cat(path: PathLike, member: str, offset: int = 0) -> bytes | None:
    """Contents of the regular file `member` (absolute or relative to the image root), or None
    when it does not exist. Nothing is written to disk (`unsquashfs -cat`)."""
    raise NotImplementedError


def unsquash_stat(path: PathLike, offset: int = 0) -> str:
    """The superblock report of `unsquashfs -s`; BuildError when the squashfs is unreadable."""
    raise NotImplementedError
