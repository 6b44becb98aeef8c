"""Walk and remove directory trees of any depth, one file descriptor at a time.

A %post can leave a tree thousands of levels deep. Python 3.11's `shutil.rmtree`, `os.walk` and
`os.fwalk` recurse once per level (RecursionError near 1,000 levels) and `os.fwalk` keeps one
descriptor open per level (EMFILE near 1,024), so this walk is written by hand: an explicit stack
of pending names, one open directory at a time, every step relative to that directory's
descriptor with O_NOFOLLOW (a symlink is an entry, never followed), and the way back up through
`..` checked against the device and inode recorded on the way down (as GNU rm's fts does).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from defkit.errors import BuildError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def bottom_up(
    root: str, *, make_writable: bool = False
) -> Iterator[tuple[int, str, os.stat_result]]:
    """Every entry below `root` as (descriptor of its directory, name, lstat), children before
    their directory; the descriptor is valid until the next item. `root` itself is not yielded.
    Directories on another file system (mounts) are yielded but not entered; directories that
    cannot be opened are yielded unentered too. `make_writable` makes each directory u+rwx on
    the way in (rootless trees have 0500 and 0000 directories), for a caller that removes."""
    fd = _open_dir(root, None, make_writable)
    root_info = os.fstat(fd)
    stack: list[tuple[str, os.stat_result, list[str]]] = [("", root_info, _names(fd))]
    try:
        while stack:
            dir_name, dir_info, pending = stack[-1]
            if pending:
                name = pending.pop()
                try:
                    info = os.lstat(name, dir_fd=fd)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(info.st_mode) and info.st_dev == root_info.st_dev:
                    child = _enter(fd, name, info, make_writable)
                    if child is not None:
                        os.close(fd)
                        fd = child
                        stack.append((name, info, _names(fd)))
                        continue
                yield fd, name, info
                continue
            stack.pop()
            if not stack:
                return
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            expected = stack[-1][1]
            if not _same(os.fstat(parent), expected):
                os.close(parent)
                raise OSError(errno.ESTALE, f"{root} changed while it was being walked")
            os.close(fd)
            fd = parent
            yield fd, dir_name, dir_info
    finally:
        os.close(fd)


def remove_tree(path: str) -> None:
    """`rm -rf path` for trees of any depth, read-only directories included; a symlink is
    removed itself, never followed. What only a user namespace can remove (files owned by
    subordinate ids) is removed there. BuildError when something is left."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    failure: OSError | None = None
    try:
        for fd, name, entry in bottom_up(path, make_writable=True):
            try:
                if stat.S_ISDIR(entry.st_mode):
                    os.rmdir(name, dir_fd=fd)
                else:
                    os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failure = failure or exc
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        failure = failure or exc
    if os.path.lexists(path):
        from defkit.build.sandbox import remove_in_userns

        remove_in_userns(path)
    if os.path.lexists(path):
        reason = failure.strerror if failure is not None and failure.strerror else "unknown"
        raise BuildError(f"cannot remove {path}: {reason}")


def _open_dir(name: str, dir_fd: int | None, make_writable: bool) -> int:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if not make_writable:
            raise
        # A 0000 directory of ours: change its mode through an O_PATH descriptor (which never
        # follows a symlink swapped in), then open it for listing.
        handle = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
        try:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        finally:
            os.close(handle)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    if make_writable:
        mode = os.fstat(fd).st_mode
        if mode & 0o700 != 0o700:
            # Not ours (a subordinate id's): the user-namespace fallback removes it.
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(mode) | 0o700)
    return fd


def _enter(parent: int, name: str, info: os.stat_result, make_writable: bool) -> int | None:
    try:
        fd = _open_dir(name, parent, make_writable)
    except OSError:
        return None
    if not _same(os.fstat(fd), info):  # replaced since the lstat: leave it alone
        os.close(fd)
        return None
    return fd


def _names(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        return []


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
