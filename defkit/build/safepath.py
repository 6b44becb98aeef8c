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
import secrets
import stat
from collections.abc import Iterator
from typing import Optional, Union

from defkit.errors import BuildError

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
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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


def open_dir_at(dirfd: int, name: str) -> int:
    """A readable descriptor of directory `name` of `dirfd`, never through a symlink. A builder
    without root gets u+rwx on a directory it owns but may not list (read-only image trees)."""
    try:
        return os.open(name, _LIST, dir_fd=dirfd)
    except PermissionError:
        if os.geteuid() == 0:
            raise
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        # The inode behind the O_PATH descriptor, not the name (which may have changed).
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(info.st_mode) | 0o700)
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(fd)


def remove_at(dirfd: int, name: str) -> bool:
    """Remove entry `name` of directory `dirfd`, whatever it is (a symlink itself, never its
    target; a directory with its contents, walked iteratively through descriptors). Returns
    whether something was there."""
    if lstat_at(dirfd, name) is None:
        return False
    if _unlink(dirfd, name):
        return True
    top = _open_to_empty(dirfd, name)
    # (parent fd, fd, name, names left to look at); fds are closed as levels are left.
    stack = [(dirfd, top, name, os.listdir(top))]
    try:
        while stack:
            parent, fd, dname, names = stack[-1]
            if names:
                child = names.pop()
                if not _unlink(fd, child):
                    sub = _open_to_empty(fd, child)
                    stack.append((fd, sub, child, os.listdir(sub)))
                continue
            stack.pop()
            os.close(fd)
            os.rmdir(dname, dir_fd=parent)
    finally:
        for _, fd, _, _ in stack:
            os.close(fd)
    return True


def _open_to_empty(dirfd: int, name: str) -> int:
    """`open_dir_at`, and u+w added on a read-only directory the builder owns (debootstrap and
    image trees have some) so its entries can go."""
    fd = open_dir_at(dirfd, name)
    info = os.fstat(fd)
    if os.geteuid() != 0 and info.st_uid == os.geteuid() and info.st_mode & 0o300 != 0o300:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) | 0o700)
    return fd


def remove_path(path: StrPath) -> None:
    """`rm -rf path` for a host path (a build's own tree): through descriptors, iteratively."""
    head, name = os.path.split(os.path.abspath(path))
    dirfd = os.open(head or "/", _DIR)
    try:
        remove_at(dirfd, name)
    finally:
        os.close(dirfd)


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

    def read_file(self, cpath: str) -> Optional[bytes]:
        """The content of regular file `cpath` (a final symlink followed inside the root), or
        None when there is none: a FIFO, device or directory is never opened."""
        found = self._locate(cpath, follow=True)
        if found is None:
            return None
        dirfd, name = found
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                         | os.O_PATH, dir_fd=dirfd)
        except (FileNotFoundError, OSError):
            return None
        finally:
            os.close(dirfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            # Reopen the very inode checked above (not the name, which may change meanwhile).
            with open(f"/proc/self/fd/{fd}", "rb") as f:
                return f.read()
        finally:
            os.close(fd)

    def listdir(self, cpath: str) -> list[str]:
        dirfd = self.open_dir(cpath)
        try:
            fd = open_dir_at(dirfd, ".")
        finally:
            os.close(dirfd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def walk(self) -> Iterator[tuple[str, int, list[str]]]:
        """(container directory, readable descriptor, entry names) of every directory, top
        down, never through a symlink; iterative, one directory open at a time (the descriptor
        is closed when the next one is asked for)."""
        todo = ["/"]
        while todo:
            here = todo.pop()
            try:
                dirfd, name = self.parent(here)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed meanwhile
            try:
                fd = open_dir_at(dirfd, name)
            except (FileNotFoundError, NotADirectoryError, OSError):
                continue  # replaced meanwhile (a symlink is never entered)
            finally:
                os.close(dirfd)
            try:
                names = os.listdir(fd)
                yield here, fd, names
                for child in names:
                    info = lstat_at(fd, child)
                    if info is not None and stat.S_ISDIR(info.st_mode):
                        todo.append(posixpath.join(here, child))
            finally:
                os.close(fd)

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


def _source_parent(src: StrPath, source: Optional[Root]) -> tuple[int, str]:
    if source is not None:
        return source.parent(os.fspath(src))
    head, name = os.path.split(os.path.abspath(src))
    return os.open(head or "/", _DIR), name or "."


def _new_temp(dirfd: int, name: str) -> tuple[str, int]:
    for _ in range(100):
        temp = f".{name[:200]}.defkit-{secrets.token_hex(4)}"
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


