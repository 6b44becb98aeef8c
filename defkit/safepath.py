"""Every file operation on a rootfs: paths resolved inside the root, acts on descriptors.

A container path is resolved the way the container itself sees it: absolute symlink targets start
at the rootfs, a `..` above `/` stays at `/` (the kernel's RESOLVE_IN_ROOT, runc's securejoin).
A path *given* to us (an archive member, a %files destination) that climbs above `/` with `..` is
refused with a BuildError rather than clamped, so a hostile definition file or layer is reported.

Nothing here opens a host path inside the rootfs by name: `Root` holds a descriptor of the root,
directories are reached with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel
has it (5.6+), else by a descriptor walk (`openat(O_PATH | O_NOFOLLOW)` one component at a time,
symlinks read and resolved inside the root), and entries are created, changed and removed with
the `*at` calls relative to a held parent descriptor or on a descriptor of the entry opened with
O_NOFOLLOW (fchmod, fchown, futimens). A symlink swapped in between two operations therefore
cannot redirect anything to the host. Walks over trees are iterative (no RecursionError).

Metadata files are written by `Root.write_file` under a temporary name and renamed over the old
entry, so a symlink, FIFO, device, socket or hard link there is replaced, never opened or written
through; an empty directory there is removed, a non-empty one is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import Optional, Union

from defkit.errors import BuildError, DefkitError

StrPath = Union[str, "os.PathLike[str]"]

#: Linux's own limit on symlinks followed while resolving one path.
MAX_SYMLINKS = 40
#: Linux's PATH_MAX: a longer container path cannot be used inside the container either.
MAX_PATH = 4096
#: Nesting a copy goes into (host copies follow symlinks and could loop).
MAX_COPY_DEPTH = 256

_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
#: openat2(2) has the same number on every architecture but alpha (syscalls added since 5.1
#: share one table).
_SYS_OPENAT2 = 437
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Metadata files (labels.json, scripts, env files, os-release) are small; this is generous.
MAX_READ = 16 * 1024 * 1024
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class RootfsReadError(DefkitError):
    """A file the engine needs to read from a rootfs is larger than it may be."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

#: Whether openat2 works here (None: not probed yet). Tests set False to exercise the walk.
openat2_available: Optional[bool] = None


def _openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    # By hand through syscall(2): Python's os module has no openat2 (and glibc no wrapper).
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    for _ in range(16):
        fd = int(_syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd),
                          ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                          ctypes.c_size_t(ctypes.sizeof(how))))
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        # EAGAIN: a rename raced with a `..` step (RESOLVE_IN_ROOT asks us to retry).
        if code not in (errno.EAGAIN, errno.EINTR):
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def _has_openat2() -> bool:
    global openat2_available  # a probe result, not state anyone else sees
    if openat2_available is None:
        try:
            os.close(_openat2(-100, "/", _DIR, _RESOLVE_IN_ROOT))  # AT_FDCWD
            openat2_available = True
        except OSError:  # ENOSYS (older kernel) or EPERM (a seccomp filter)
            openat2_available = False
    return openat2_available


def parts(path: str) -> list[str]:
    """The components of a container path (empty and `.` components dropped)."""
    return [part for part in path.split("/") if part not in ("", ".")]


def check_path(path: str) -> None:
    """Refuse a given container path that climbs above `/`, holds a NUL or is too long."""
    if "\0" in path:
        raise BuildError(f"path {path!r} contains a NUL byte")
    if len(os.fsencode(path)) >= MAX_PATH:
        raise BuildError(f"path {path[:60]!r}... is longer than {MAX_PATH} bytes")
    depth = 0
    for part in parts(path):
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise BuildError(f"path {path!r} climbs above the root of the image")


def _fail(cpath: str, exc: OSError) -> BuildError:
    return BuildError(f"{cpath}: {exc.strerror or exc}")


def lstat_at(dirfd: int, name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def open_dir_at(dirfd: int, name: str, *, make_writable: bool = False) -> int:
    """A readable descriptor of directory `name` of `dirfd`, never through a symlink. A builder
    without root gets u+rwx on a directory it owns but may not list (read-only image trees);
    `make_writable` (for a caller that removes) makes any directory it can u+rwx (rootless
    trees have 0500 and 0000 directories)."""
    try:
        fd = os.open(name, _LIST, dir_fd=dirfd)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC,
                         dir_fd=dirfd)
        try:
            info = os.fstat(handle)
            if info.st_uid != os.geteuid():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name) from None
            # The inode behind the O_PATH descriptor, not the name (which may have changed).
            os.chmod(f"/proc/self/fd/{handle}", stat.S_IMODE(info.st_mode) | 0o700)
            fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        finally:
            os.close(handle)
    if make_writable:
        mode = os.fstat(fd).st_mode
        if mode & 0o700 != 0o700:
            # Not ours (a subordinate id's): `engine.sandbox.remove_tree`'s user-namespace
            # fallback removes it.
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(mode) | 0o700)
    return fd


def walk_tree(path: StrPath) -> Iterator[tuple[int, str, os.stat_result]]:
    """Every entry below the host directory `path` (a build's own tree), as `bottom_up`."""
    return bottom_up(os.open(os.fspath(path), _LIST))


def bottom_up(top: int, *, make_writable: bool = False
              ) -> Iterator[tuple[int, str, os.stat_result]]:
    """Every entry below the directory open as `top` (a readable descriptor, which this takes
    over and closes) as (descriptor of its directory, name, lstat), children before their
    directory; the descriptor is valid until the next item. The top itself is not yielded.
    Directories on another file system (mounts), and those that cannot be opened, are yielded
    unentered. `make_writable` as `open_dir_at` (for a caller that removes).

    Written by hand because Python 3.11's `os.walk`/`os.fwalk`/`shutil.rmtree` recurse once per
    level (RecursionError near 1,000 levels; %post can leave trees thousands deep) and `fwalk`
    keeps a descriptor per level (EMFILE near 1,024): here an explicit stack of pending names,
    one directory open at a time, every step relative to its descriptor with O_NOFOLLOW, and
    the way back up through `..` checked against the device and inode recorded on the way down
    (as GNU rm's fts does)."""
    fd = top
    try:
        top_info = os.fstat(fd)
        stack: list[tuple[str, os.stat_result, list[str]]] = [("", top_info, _names(fd))]
        while stack:
            dir_name, dir_info, pending = stack[-1]
            if pending:
                name = pending.pop()
                info = lstat_at(fd, name)
                if info is None:
                    continue
                if stat.S_ISDIR(info.st_mode) and info.st_dev == top_info.st_dev:
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
            parent = os.open("..", _LIST, dir_fd=fd)
            if not _same(os.fstat(parent), stack[-1][1]):
                os.close(parent)
                raise OSError(errno.ESTALE, "the tree changed while it was being walked")
            os.close(fd)
            fd = parent
            yield fd, dir_name, dir_info
    finally:
        os.close(fd)


def _enter(parent: int, name: str, info: os.stat_result, make_writable: bool) -> Optional[int]:
    try:
        fd = open_dir_at(parent, name, make_writable=make_writable)
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


def remove_at(dirfd: int, name: str) -> bool:
    """Remove entry `name` of directory `dirfd`, whatever it is (a symlink itself, never its
    target; a directory with its contents, any depth, read-only directories included). Returns
    whether something was there; OSError for the first entry that could not be removed (the
    others are still removed)."""
    if lstat_at(dirfd, name) is None:
        return False
    if _unlink(dirfd, name):
        return True
    failure: Optional[OSError] = None
    for fd, entry, info in bottom_up(open_dir_at(dirfd, name, make_writable=True),
                                     make_writable=True):
        try:
            if stat.S_ISDIR(info.st_mode):
                os.rmdir(entry, dir_fd=fd)
            else:
                os.unlink(entry, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=dirfd)
    return True


def _unlink(dirfd: int, name: str) -> bool:
    """Unlink a non-directory: True when gone (or never there), False for a directory."""
    try:
        os.unlink(name, dir_fd=dirfd)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        return False
    except PermissionError:
        info = lstat_at(dirfd, name)
        if info is None or not stat.S_ISDIR(info.st_mode):
            raise
        return False
    return True


def set_times_at(dirfd: int, name: str, mtime: float) -> None:
    os.utime(name, (mtime, mtime), dir_fd=dirfd, follow_symlinks=False)


def chmod_at(dirfd: int, name: str, mode: int) -> None:
    """chmod a FIFO or device node (which must not be opened) by name, never through a symlink."""
    fd = os.open(name, _NOFOLLOW_PATH, dir_fd=dirfd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return
        # glibc's own AT_SYMLINK_NOFOLLOW: chmod the inode behind the O_PATH descriptor.
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


class Root:
    """A rootfs held open by a descriptor; every path is a container path resolved inside it.

    Descriptors returned by the methods belong to the caller (close them)."""

    def __init__(self, path: StrPath, *, openat2: Optional[bool] = None) -> None:
        self.path = os.path.realpath(path)
        self.fd = os.open(self.path, _DIR)
        self.openat2 = _has_openat2() if openat2 is None else openat2
        self.is_root = os.geteuid() == 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- resolution ----------------------------------------------------------------------

    def open_dir(self, cpath: str, *, create: bool = False, mode: int = 0o755) -> int:
        """An O_PATH descriptor of directory `cpath`, every symlink resolved inside the root;
        missing directories are made (`mkdir -p`) with `create`."""
        names = parts(cpath)
        if not names:
            return os.open(".", _DIR, dir_fd=self.fd)
        if self.openat2:
            try:
                return _openat2(self.fd, "/".join(names), _DIR,
                                _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
            except FileNotFoundError:
                if not create:
                    raise
            except OSError as exc:
                if exc.errno != errno.ENAMETOOLONG:
                    raise
        return self._walk(names, create, mode)

    def _walk(self, names: list[str], create: bool, mode: int) -> int:
        """openat2's work by hand: one O_NOFOLLOW openat per component, symlinks read and their
        targets resolved from the root (absolute) or the current directory (relative)."""
        pending = list(reversed(names))
        stack = [self.fd]  # stack[0] is the root and stays open
        links = 0
        try:
            while pending:
                part = pending.pop()
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                try:
                    fd = os.open(part, _NOFOLLOW_PATH, dir_fd=stack[-1])
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):  # made meanwhile: reopen it
                        os.mkdir(part, mode, dir_fd=stack[-1])
                    pending.append(part)
                    continue
                kind = stat.S_IFMT(os.fstat(fd).st_mode)
                if kind == stat.S_IFLNK:
                    target = os.readlink("", dir_fd=fd)
                    os.close(fd)
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), part)
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                    pending.extend(reversed(parts(target)))
                    continue
                if kind != stat.S_IFDIR:
                    os.close(fd)
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), part)
                stack.append(fd)
            if len(stack) == 1:
                return os.open(".", _DIR, dir_fd=self.fd)
            return stack.pop()
        finally:
            for fd in stack[1:]:
                os.close(fd)

    def parent(self, cpath: str, *, create: bool = False) -> tuple[int, str]:
        """(O_PATH descriptor of the parent directory, final name) of `cpath`: the parent
        resolved inside the root, the final component left alone (not followed)."""
        head, name = posixpath.split(cpath.rstrip("/") or "/")
        if name in ("", ".", ".."):
            return self.open_dir(cpath, create=create), "."
        return self.open_dir(head, create=create), name

    def resolve(self, cpath: str, *, create: bool = False) -> tuple[int, str]:
        """Like `parent`, with a final symlink followed inside the root (the entry a write to
        `cpath` reaches); the final name may not exist."""
        for _ in range(MAX_SYMLINKS + 1):
            dirfd, name = self.parent(cpath, create=create)
            info = lstat_at(dirfd, name)
            if info is None or not stat.S_ISLNK(info.st_mode):
                return dirfd, name
            target = os.readlink(name, dir_fd=dirfd)
            os.close(dirfd)
            head = posixpath.dirname(cpath.rstrip("/"))
            cpath = target if target.startswith("/") else f"{head}/{target}"
        raise _fail(cpath, OSError(errno.ELOOP, os.strerror(errno.ELOOP)))

    # --- queries -------------------------------------------------------------------------

    def _locate(self, cpath: str, *, follow: bool = False) -> Optional[tuple[int, str]]:
        """`check_path`, then `resolve` (follow) or `parent`; None when a parent is missing."""
        check_path(cpath)
        try:
            return self.resolve(cpath) if follow else self.parent(cpath)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def lstat(self, cpath: str, *, follow: bool = False) -> Optional[os.stat_result]:
        """The entry at `cpath` (a final symlink itself, or what it leads to with `follow`);
        None when it, or a parent, does not exist."""
        found = self._locate(cpath, follow=follow)
        if found is None:
            return None
        dirfd, name = found
        try:
            return lstat_at(dirfd, name)
        finally:
            os.close(dirfd)

    def is_dir(self, cpath: str) -> bool:
        info = self.lstat(cpath, follow=True)
        return info is not None and stat.S_ISDIR(info.st_mode)

    def is_file(self, cpath: str) -> bool:
        info = self.lstat(cpath, follow=True)
        return info is not None and stat.S_ISREG(info.st_mode)

    def exists(self, cpath: str) -> bool:
        """Whether an entry (a dangling symlink too) is at `cpath`."""
        return self.lstat(cpath) is not None

    def read_file(self, cpath: str, *, limit: int = MAX_READ, follow: bool = True
                  ) -> Optional[bytes]:
        """The content of regular file `cpath` (a final symlink followed inside the root; with
        `follow=False` a final symlink gives None), or None when there is none: a FIFO, device
        or directory is never opened so as to block. RootfsReadError above `limit` bytes."""
        data = self.read_head(cpath, limit + 1, follow=follow)
        if data is not None and len(data) > limit:
            from defkit.printable import printable

            raise RootfsReadError(printable(f"{cpath} is larger than {limit} bytes"),
                                  path=self.path)
        return data

    def read_head(self, cpath: str, size: int, *, follow: bool = True) -> Optional[bytes]:
        """The first `size` bytes of regular file `cpath` (None as `read_file`)."""
        fd = self._open_regular(cpath, follow)
        if fd is None:
            return None
        try:
            return _read(fd, size)
        finally:
            os.close(fd)

    def _open_regular(self, cpath: str, follow: bool) -> Optional[int]:
        """A read descriptor of regular file `cpath`: checked to be one before the open, opened
        with O_NONBLOCK | O_NOFOLLOW (a FIFO or device swapped in cannot block it, a symlink
        swapped in is refused) and checked again on the descriptor."""
        try:
            found = self._locate(cpath, follow=follow)
        except (OSError, BuildError):  # a symlink loop, EACCES... on the way
            return None
        if found is None:
            return None
        dirfd, name = found
        try:
            info = lstat_at(dirfd, name)
            if info is None or not stat.S_ISREG(info.st_mode):
                return None
            fd = os.open(name, _READ, dir_fd=dirfd)
        except OSError:
            return None
        finally:
            os.close(dirfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    def listdir(self, cpath: str) -> list[str]:
        """The names in directory `cpath`. Never changes a mode (inspect reads images it must
        leave as they are): an unreadable directory is a PermissionError."""
        dirfd = self.open_dir(cpath)
        try:
            fd = os.open(".", _LIST, dir_fd=dirfd)
        finally:
            os.close(dirfd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def walk(self) -> Iterator[tuple[int, str, os.stat_result]]:
        """Every entry below the root, children first, as `bottom_up`."""
        return bottom_up(open_dir_at(self.fd, "."))

    # --- changes -------------------------------------------------------------------------

    def makedirs(self, cpath: str, mode: int = 0o755) -> None:
        check_path(cpath)
        try:
            os.close(self.open_dir(cpath, create=True, mode=mode))
        except OSError as exc:
            raise _fail(cpath, exc) from None

    def remove(self, cpath: str) -> bool:
        """Remove the entry at `cpath` (a final symlink itself); whether one was there."""
        found = self._locate(cpath)
        if found is None:
            return False
        dirfd, name = found
        try:
            return remove_at(dirfd, name)
        except OSError as exc:
            raise _fail(cpath, exc) from None
        finally:
            os.close(dirfd)

    def truncate(self, cpath: str) -> bool:
        """Empty regular file `cpath` in place (owner and mode kept); whether it was one."""
        found = self._locate(cpath)
        if found is None:
            return False
        dirfd, name = found
        try:
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dirfd)
        except OSError:
            return False  # missing, a symlink (ELOOP), a FIFO without reader, a directory...
        finally:
            os.close(dirfd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
                return False
            os.ftruncate(fd, 0)
            return True
        finally:
            os.close(fd)

    def rename(self, source: str, target: str) -> None:
        src_dir, src_name = self.parent(source)
        try:
            dst_dir, dst_name = self.parent(target, create=True)
            try:
                os.rename(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
            finally:
                os.close(dst_dir)
        except OSError as exc:
            raise _fail(target, exc) from None
        finally:
            os.close(src_dir)

    def symlink(self, target: str, cpath: str) -> None:
        """Make `cpath` a symlink to `target`, replacing a non-directory entry there."""
        check_path(cpath)
        dirfd, name = self.parent(cpath, create=True)
        try:
            _unlink(dirfd, name)
            os.symlink(target, name, dir_fd=dirfd)
        except OSError as exc:
            raise _fail(cpath, exc) from None
        finally:
            os.close(dirfd)

    def write_file(self, cpath: str, content: Union[str, bytes], mode: int) -> None:
        """Make `cpath` a new regular file holding `content` with `mode`, its parents created.

        The file is written under a temporary name in the same directory and renamed over
        what was there: a symlink, FIFO, device, socket or hard-linked file at `cpath` is
        replaced, never opened or written through (a FIFO would block the build, a symlink or
        hard link would carry the write elsewhere). An empty directory there is removed; a
        non-empty one is refused with a BuildError (it holds the image's files)."""
        check_path(cpath)
        data = content.encode("utf-8") if isinstance(content, str) else content
        try:
            dirfd, name = self.parent(cpath, create=True)
        except OSError as exc:
            raise _fail(cpath, exc) from None
        try:
            info = lstat_at(dirfd, name)
            if info is not None and stat.S_ISDIR(info.st_mode):
                try:
                    os.rmdir(name, dir_fd=dirfd)
                except OSError:
                    raise BuildError(f"cannot write {cpath}: the image has a directory there"
                                     " that is not empty") from None
            temp, fd = _new_temp(dirfd, name)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    os.fchmod(out.fileno(), mode)
                os.rename(temp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except BaseException:
                _unlink(dirfd, temp)
                raise
        except OSError as exc:
            raise _fail(cpath, exc) from None
        finally:
            os.close(dirfd)

    def append_file(self, cpath: str, text: str, *, header: str, mode: int) -> None:
        """Append `text` to regular file `cpath` (a new file made of `header` and `text` when
        there is none, or a symlink or anything else is there), written as `write_file` does."""
        info = self.lstat(cpath)
        current = self.read_file(cpath) if info and stat.S_ISREG(info.st_mode) else None
        self.write_file(cpath, (header if current is None else current.decode(
            "utf-8", "replace")) + text, mode)

    # --- copies into the root ------------------------------------------------------------

    def copy_in(self, src: StrPath, dst: str, *, source: Optional[Root] = None) -> str:
        """Copy a file or tree to container path `dst` like `cp -r` inside the rootfs; returns
        the container path written.

        Without `source`, `src` is a host path and symlinks are followed (`cp -L`); with
        `source` (an earlier stage's root), `src` is a container path of that root, resolved
        inside it, and symlinks are kept. `dst` ending in "/" is a directory (created); an
        existing directory receives `basename(src)`; otherwise `dst` names the copy and its
        parent is created."""
        check_path(dst)
        if source is not None:
            check_path(os.fspath(src))
        name = posixpath.basename(os.fspath(src).rstrip("/")) or "root"
        try:
            src_dir, src_name = _source_parent(src, source)
        except OSError as exc:
            raise BuildError(f"copy source {src} does not exist ({exc.strerror})") from None
        try:
            if lstat_at(src_dir, src_name) is None:
                raise BuildError(f"copy source {src} does not exist")
            if dst.endswith("/") or self.is_dir(dst):
                dst = dst.rstrip("/") + "/" + name
            dst_dir, dst_name = self.resolve(dst, create=True)
            try:
                _Copier(follow=source is None, keep_owner=source is not None and self.is_root
                        ).run(src_dir, src_name, dst_dir, dst_name)
            finally:
                os.close(dst_dir)
        except OSError as exc:
            raise BuildError(f"cannot copy {src} to {dst}: {exc.strerror or exc}") from None
        finally:
            os.close(src_dir)
        return dst

    def glob(self, pattern: str) -> list[str]:
        """The container paths matching `pattern` (`*`, `?`, `[...]` in any component, as
        Python's glob: a leading `.` must be matched explicitly), matched inside the root:
        symlinks resolve inside it, nothing on the host is looked at."""
        import fnmatch

        check_path(pattern)
        found = ["/"]
        for part in parts(pattern):
            found_next: list[str] = []
            for base in found:
                if not any(char in part for char in "*?["):
                    candidate = posixpath.join(base, part)
                    if part == ".." or self.exists(candidate):
                        found_next.append(candidate)
                    continue
                if not self.is_dir(base):
                    continue
                names = [n for n in self.listdir(base) if part.startswith(".")
                         or not n.startswith(".")]
                found_next += [posixpath.join(base, n) for n in sorted(fnmatch.filter(
                    names, part))]
            found = found_next
        return [posixpath.normpath(p) for p in found]


def open_host_file(path: str) -> int:
    """A read descriptor for the regular file at a host `path` the user named (a symlink is
    followed: the user chose it). OSError as `open` raises it, and EINVAL for a FIFO, device or
    socket, which is opened without blocking and refused; IsADirectoryError for a directory."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        raise OSError(errno.EINVAL, "not a regular file", path)
    fd = os.open(path, _READ & ~os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd


def read_host_head(path: str, size: int) -> Optional[bytes]:
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


def _read(fd: int, size: int) -> bytes:
    chunks = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _source_parent(src: StrPath, source: Optional[Root]) -> tuple[int, str]:
    if source is not None:
        return source.parent(os.fspath(src))
    head, name = os.path.split(os.path.abspath(src))
    return os.open(head or "/", _DIR), name or "."


def _new_temp(dirfd: int, name: str) -> tuple[str, int]:
    for _ in range(100):
        temp = f".{name[:200]}.defkit-{os.urandom(4).hex()}"
        try:
            return temp, os.open(temp, _NEW_FILE, 0o600, dir_fd=dirfd)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary name", name)


class _Copier:
    """An iterative copy of one entry or tree between two directory descriptors."""

    def __init__(self, *, follow: bool, keep_owner: bool) -> None:
        self.follow = follow  # host copies: `cp -L`; stage copies keep symlinks
        self.keep_owner = keep_owner

    def run(self, src_dir: int, src_name: str, dst_dir: int, dst_name: str) -> None:
        # ("copy", src parent, name, dst parent, name, depth) or ("done", fd, info) to set a
        # directory's final mode once its children are in.
        todo: list[tuple[object, ...]] = [("copy", src_dir, src_name, dst_dir, dst_name, 0)]
        opened: list[int] = []
        try:
            while todo:
                item = todo.pop()
                if item[0] == "done":
                    _, fd, info = item
                    assert isinstance(fd, int) and isinstance(info, os.stat_result)
                    self._finish(fd, info)
                    continue
                _, sdir, sname, ddir, dname, depth = item
                assert isinstance(sdir, int) and isinstance(ddir, int)
                assert isinstance(sname, str) and isinstance(dname, str)
                assert isinstance(depth, int)
                self._entry(sdir, sname, ddir, dname, depth, todo, opened)
        finally:
            for fd in opened:
                os.close(fd)

    def _entry(self, sdir: int, sname: str, ddir: int, dname: str, depth: int,
               todo: list[tuple[object, ...]], opened: list[int]) -> None:
        info = os.stat(sname, dir_fd=sdir, follow_symlinks=self.follow)
        mode = info.st_mode
        existing = lstat_at(ddir, dname)
        if stat.S_ISDIR(mode):
            if depth >= MAX_COPY_DEPTH:
                raise BuildError(f"copy of {sname}: directory nesting deeper than "
                                 f"{MAX_COPY_DEPTH} (a symlink loop?)")
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                raise BuildError(f"cannot overwrite non-directory {dname} with a directory")
            if existing is None:
                os.mkdir(dname, 0o700, dir_fd=ddir)
            src_fd = os.open(sname, _LIST if not self.follow else
                             os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=sdir)
            opened.append(src_fd)
            dst_fd = open_dir_at(ddir, dname)
            opened.append(dst_fd)
            os.fchmod(dst_fd, stat.S_IMODE(mode) | 0o700)
            todo.append(("done", dst_fd, info))
            for child in sorted(os.listdir(src_fd), reverse=True):
                todo.append(("copy", src_fd, child, dst_fd, child, depth + 1))
            return
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise BuildError(f"cannot overwrite directory {dname} with a non-directory")
            os.unlink(dname, dir_fd=ddir)
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(sname, dir_fd=sdir), dname, dir_fd=ddir)
            if self.keep_owner:
                os.chown(dname, info.st_uid, info.st_gid, dir_fd=ddir, follow_symlinks=False)
        elif stat.S_ISREG(mode):
            flags = os.O_RDONLY | os.O_CLOEXEC | (0 if self.follow else os.O_NOFOLLOW)
            src_fd = os.open(sname, flags | os.O_NONBLOCK, dir_fd=sdir)
            try:
                if not stat.S_ISREG(os.fstat(src_fd).st_mode):
                    raise BuildError(f"copy source {sname} changed while it was copied")
                dst_fd = os.open(dname, _NEW_FILE, 0o600, dir_fd=ddir)
                try:
                    _copy_data(src_fd, dst_fd)
                    self._finish(dst_fd, info)
                finally:
                    os.close(dst_fd)
            finally:
                os.close(src_fd)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dname, 0o600, dir_fd=ddir)
            chmod_at(ddir, dname, stat.S_IMODE(mode))
        elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and os.geteuid() == 0:
            os.mknod(dname, stat.S_IFMT(mode) | 0o600, info.st_rdev, dir_fd=ddir)
            chmod_at(ddir, dname, stat.S_IMODE(mode))
        # Sockets, and device nodes when not root, cannot be copied; like `cp` we skip them.

    def _finish(self, fd: int, info: os.stat_result) -> None:
        if self.keep_owner:
            os.fchown(fd, info.st_uid, info.st_gid)  # before chmod: chown clears setuid bits
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
        if not self.follow and not stat.S_ISDIR(info.st_mode):
            os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))


def _copy_data(src_fd: int, dst_fd: int) -> None:
    while True:
        try:
            if os.copy_file_range(src_fd, dst_fd, 1 << 30) == 0:
                return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            break
    while True:
        chunk = os.read(src_fd, 1 << 20)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view):]


