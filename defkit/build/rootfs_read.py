"""Read files out of a rootfs (or an image the user named) without hanging or leaving the root.

What %post leaves behind is hostile input: a FIFO where labels.json should be blocks a plain
`open()` for ever, a device node can block or have side effects on open, a symlink can point at
a host file, and a huge file exhausts memory. Every read the engine makes from a rootfs goes
through here, so each of those is handled once:

- the path is resolved inside the root as a chroot would (`resolve_in_root`), then opened one
  component at a time relative to the root's file descriptor with O_NOFOLLOW, so a component
  swapped for a symlink since is refused, never followed;
- the file is checked to be a regular file (lstat) before it is opened, opened with O_NONBLOCK
  (a FIFO or device swapped in between cannot block the open) and checked again (fstat);
- at most `limit` bytes are read; a larger file is an error, not a truncated result.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
from collections.abc import Iterator

from defkit.errors import DefkitError

#: Metadata files (labels.json, scripts, env files, os-release) are small; this is generous.
MAX_READ = 16 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


class RootfsReadError(DefkitError):
    """A file the engine needs to read is larger than it may be."""


def read_file(root: str, path: str, *, limit: int = MAX_READ, follow: bool = True) -> bytes | None:
    """The regular file `path` (as seen inside `root`, symlinks resolved inside it), or None
    when it is missing or not a regular file; `follow=False` also gives None for a symlink as
    the last component. RootfsReadError when the file holds more than `limit` bytes."""
    with _opened(root, path, follow) as fd:
        if fd is None:
            return None
        data = _read(fd, limit + 1)
    if len(data) > limit:
        from defkit.image.printable import printable

        raise RootfsReadError(printable(f"{path} is larger than {limit} bytes"), path=root)
    return data


def read_head(root: str, path: str, size: int, *, follow: bool = True) -> bytes | None:
    """The first `size` bytes of the regular file `path` inside `root` (None as `read_file`)."""
    with _opened(root, path, follow) as fd:
        return None if fd is None else _read(fd, size)


def open_host_file(path: str) -> int:
    """A read descriptor for the regular file at a host `path` the user named (a symlink is
    followed: the user chose it). OSError as `open` raises it, and EINVAL for a FIFO, device or
    socket, which is opened without blocking and refused; IsADirectoryError for a directory."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        raise OSError(errno.EINVAL, "not a regular file", path)
    fd = os.open(path, _FILE_FLAGS & ~os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd


def read_host_head(path: str, size: int) -> bytes | None:
    """The first `size` bytes of the regular file at host `path` (`open_host_file`); None when
    it is missing or not a regular file."""
    try:
        fd = open_host_file(path)
    except OSError:
        return None
    try:
        return _read(fd, size)
    finally:
        os.close(fd)


def glob_in_root(root: str, pattern: str) -> list[str]:
    """Container paths matching the `/`-separated glob `pattern` (components may use `*?[`),
    with every symlink on the way resolved inside `root`: a host directory is never listed."""
    from defkit.sif.arch import resolve_in_root

    found = [""]
    for part in [p for p in pattern.split("/") if p]:
        following = []
        for base in found:
            if not any(c in part for c in "*?["):
                candidates = [part]
            else:
                host = resolve_in_root(root, base or "/")
                try:
                    candidates = sorted(n for n in os.listdir(host or "") if not n.startswith(".")
                                        or part.startswith("."))  # fmt: skip
                except OSError:
                    continue
                candidates = fnmatch.filter(candidates, part)
            for name in candidates:
                path = f"{base}/{name}"
                if resolve_in_root(root, path) is not None:
                    following.append(path)
        found = following
    return [path for path in found if path]


@contextlib.contextmanager
def _opened(root: str, path: str, follow: bool) -> Iterator[int | None]:
    fd = _open_regular(root, path, follow)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _open_regular(root: str, path: str, follow: bool) -> int | None:
    from defkit.sif.arch import resolve_in_root

    parent, _, name = path.strip("/").rpartition("/")
    if not name:
        return None
    resolved = resolve_in_root(root, path if follow else parent or "/")
    if resolved is None:
        return None
    rel = os.path.relpath(resolved, os.path.abspath(root))
    parts = [] if rel == "." else rel.split("/")
    if not follow:
        parts.append(name)
    try:
        dir_fd = os.open(os.path.abspath(root), _DIR_FLAGS)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        if not parts or not stat.S_ISREG(os.lstat(parts[-1], dir_fd=dir_fd).st_mode):
            return None
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _read(fd: int, size: int) -> bytes:
    chunks = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
