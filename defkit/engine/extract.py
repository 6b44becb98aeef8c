"""Tar archives and image layers unpacked into a rootfs, never outside it.

Member names and hard links are checked, and every entry is made through descriptors of a `Root`
(see `defkit.safepath`), so nothing in an archive reaches outside the root, and a hostile or
damaged archive or layer is refused with a one-line BuildError. OCI whiteouts are applied when
asked.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import math
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import IO, Any, Optional, Union

from defkit.errors import BuildError
from defkit.runner import Runner, run
from defkit.safepath import (
    Root,
    StrPath,
    check_path,
    chmod_at,
    lstat_at,
    open_dir_at,
    remove_at,
    set_times_at,
)

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class SpecialEntry:
    """An entry extraction could not reproduce as the builder (a device node, or ownership other
    than the builder's when not root), kept so the image writer can add it (mksquashfs pseudo
    files)."""

    path: str  # container path
    kind: str  # "c", "b" (device) or "m" (mode/ownership)
    mode: int
    uid: int
    gid: int
    major: int = 0
    minor: int = 0


@dataclass(frozen=True)
class ExtractReport:
    members: int
    special: tuple[SpecialEntry, ...] = ()


def extract_tar(
    tar: Union[StrPath, IO[bytes]],
    root: StrPath,
    *,
    whiteouts: bool = False,
    exact_dir_modes: bool = False,
    runner: Runner = run,
) -> ExtractReport:
    """Extract a tar archive (plain, gzip, bzip2, xz or zstd) into `root`, never outside it.

    Refused with one BuildError: absolute member names, names or hard links climbing out with
    `..`, names longer than PATH_MAX, ids, times or device numbers no file can have, whiteouts of
    `.`/`..`, a damaged archive. Symlinks are created verbatim and paths written through them are
    resolved inside the root as the container would (an absolute target or a `..` above `/` stays
    in the image). An existing entry is replaced, never written through (a symlink or hard link
    there is removed first). Device nodes are created only as root; otherwise they, and ownership
    we cannot set, are returned in the report. With `whiteouts=True` OCI whiteouts are applied:
    `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its directory (never a symlink's target) of
    what earlier layers put there. With `exact_dir_modes=True` a directory's mode is applied as
    archived also when not root (at the end), for a tree that is only read afterwards (a stage
    restored from the build cache); otherwise a rootless extraction keeps u+rwx on directories.

    Python's `tarfile` filters are not used: `data_filter` refuses absolute symlinks and setuid
    bits, both normal in a root filesystem; this function does its own checks (also on 3.9).
    """
    with contextlib.ExitStack() as stack:
        fileobj = _open_stream(tar, stack, runner)
        try:
            archive = stack.enter_context(tarfile.open(fileobj=fileobj, mode="r|*"))
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
            # The first header is read here, before the extractor's own checks.
            raise BuildError(f"the archive is damaged or not a tar archive: {exc}") from None
        held = stack.enter_context(Root(root))
        return _Extractor(held, whiteouts, exact_dir_modes).run(archive)


def _open_stream(
    tar: Union[StrPath, IO[bytes]], stack: contextlib.ExitStack, runner: Runner
) -> IO[bytes]:
    if isinstance(tar, (str, os.PathLike)):
        fileobj: IO[bytes] = stack.enter_context(open(tar, "rb"))  # noqa: SIM115
    else:
        fileobj = tar
    head = fileobj.read(4)
    if head != _ZSTD_MAGIC:
        return io.BufferedReader(_Prefixed(head, fileobj))
    # tarfile has no zstd before 3.14: decompress with the zstd tool into a temporary file.
    tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="defkit-zst-"))
    packed = os.path.join(tmpdir, "layer.tar.zst")
    with open(packed, "wb") as out:
        out.write(head)
        shutil.copyfileobj(fileobj, out)
    plain = os.path.join(tmpdir, "layer.tar")
    result = runner(["zstd", "-q", "-d", "-o", plain, packed])
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise BuildError(f"zstd could not decompress a layer: {detail}")
    os.unlink(packed)
    return stack.enter_context(open(plain, "rb"))


class _Prefixed(io.RawIOBase):
    """A stream that first returns bytes already read (the magic sniffed above)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _member_path(name: str) -> str:
    """The normalised container path of a member name; refuses names that leave the root."""
    if name.startswith("/"):
        raise BuildError(f"archive member {name!r} has an absolute path")
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise BuildError(f"archive member {name!r} climbs above the root with '..'")
    cpath = "/" if norm == "." else "/" + norm
    check_path(cpath)
    return cpath


#: Ids an archive may give (2^32 - 1 is the kernel's "no change" value for chown).
_MAX_ID = 2**32 - 2
#: What a 64-bit time_t in seconds holds.
_MAX_TIME = float(2**62)


class _Extractor:
    """One archive into one root. Each entry is made relative to a held descriptor of its
    parent directory (the last one is cached), and changed through a descriptor of the entry
    itself or an `*at` call that does not follow symlinks, so no later entry can redirect an
    earlier change (a directory swapped for a symlink, umoci's CVE-2021-29136 and alike)."""

    def __init__(self, root: Root, whiteouts: bool, exact_dir_modes: bool = False) -> None:
        self.root = root
        self.whiteouts = whiteouts
        self.exact_dir_modes = exact_dir_modes
        self.is_root = os.geteuid() == 0
        self.written: set[str] = set()  # container paths this archive created (for opaque dirs)
        # Directories whose mode lacks u+rwx: applied at the end (so they could be filled),
        # only to the very directory (device, inode) extracted, reached again inside the root.
        self.dir_modes: list[tuple[str, int, int, int]] = []
        self.special: list[SpecialEntry] = []
        self.cached: Optional[tuple[str, int]] = None  # (container dir, O_PATH descriptor)

    def run(self, archive: tarfile.TarFile) -> ExtractReport:
        count = 0
        name = ""
        try:
            for member in archive:
                count += 1
                name = member.name
                self._member(archive, member)
            name = ""
            self._apply_dir_modes()
        except OSError as exc:
            what = f"archive member {name!r}" if name else "archive"
            raise BuildError(f"cannot extract {what}: {exc.strerror or exc}") from None
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise BuildError(f"the archive is damaged or not a tar archive: {exc}") from None
        finally:
            self._uncache()
        return ExtractReport(members=count, special=tuple(self.special))

    def _apply_dir_modes(self) -> None:
        for cpath, dev, ino, mode in reversed(self.dir_modes):
            try:
                dirfd, name = self.root.parent(cpath)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed or replaced later in the archive
            try:
                fd = open_dir_at(dirfd, name)
            except OSError:
                continue  # no longer a directory (a symlink or file took its place)
            finally:
                os.close(dirfd)
            try:
                info = os.fstat(fd)
                if (info.st_dev, info.st_ino) == (dev, ino):
                    os.fchmod(fd, mode)
            finally:
                os.close(fd)

    # --- the parent directory of each entry ------------------------------------------------

    def _parent(self, parent_c: str) -> int:
        if self.cached is not None and self.cached[0] == parent_c:
            return self.cached[1]
        self._uncache()
        try:
            fd = self.root.open_dir(parent_c, create=True)
        except NotADirectoryError:
            raise BuildError(f"{parent_c} is not a directory") from None
        self.cached = (parent_c, fd)
        return fd

    def _uncache(self) -> None:
        if self.cached is not None:
            os.close(self.cached[1])
            self.cached = None

    def _remove(self, dirfd: int, name: str) -> None:
        """Remove what is at `name`; a directory or symlink removed may be part of the cached
        directory's path, so the cache is dropped then."""
        info = lstat_at(dirfd, name)
        if info is None:
            return
        if stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode):
            if self.cached is not None and self.cached[1] == dirfd:
                self.cached = None
                try:
                    remove_at(dirfd, name)
                finally:
                    os.close(dirfd)
                return
            self._uncache()
        remove_at(dirfd, name)

    # --- entries ---------------------------------------------------------------------------

    def _member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        cpath = _member_path(member.name)
        parent_c, base = posixpath.split(cpath)
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent_c, base)
            return
        _check_header(member)
        if cpath == "/":
            if member.isdir():
                fd = open_dir_at(self.root.fd, ".")
                try:
                    self._dir_mode(fd, cpath, member)
                finally:
                    os.close(fd)
            return
        parent = self._parent(parent_c)
        self._mark_written(cpath)
        if member.isdir():
            self._directory(parent, base, cpath, member)
            return
        if member.isreg():
            self._regular(archive, parent, base, cpath, member)
            return
        self._remove(parent, base)
        parent = self._parent(parent_c)
        if member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
        elif member.islnk():
            self._hard_link(parent, base, member)
            return  # a hard link shares the inode: mode and owner are the target's
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
        elif member.ischr() or member.isblk():
            kind = "c" if member.ischr() else "b"
            if not self.is_root:
                self.special.append(SpecialEntry(cpath, kind, stat.S_IMODE(member.mode),
                                                 member.uid, member.gid, member.devmajor,
                                                 member.devminor))
                return
            dev_type = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(base, 0o600 | dev_type, os.makedev(member.devmajor, member.devminor),
                     dir_fd=parent)
        else:
            return  # unknown member types (sparse leftovers, sockets) are skipped like GNU tar
        # Symlinks, FIFOs and device nodes are not opened (a FIFO blocks, a device may act):
        # changed by name relative to the held parent, never following a symlink.
        if self.is_root:
            os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        elif not member.issym():
            self._foreign_owner(cpath, member)
        if not member.issym():
            chmod_at(parent, base, stat.S_IMODE(member.mode))
        set_times_at(parent, base, member.mtime)

    def _regular(self, archive: tarfile.TarFile, parent: int, base: str, cpath: str,
                 member: tarfile.TarInfo) -> None:
        try:
            fd = os.open(base, _NEW_FILE, 0o600, dir_fd=parent)
        except FileExistsError:
            # Replaced, never written through: the old entry may be a symlink or a hard link.
            self._remove(parent, base)
            parent = self._parent(posixpath.dirname(cpath))
            fd = os.open(base, _NEW_FILE, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb") as out:
            src = archive.extractfile(member)
            assert src is not None
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            self._owner(fd, cpath, member)
            os.fchmod(fd, stat.S_IMODE(member.mode))
            os.utime(fd, (member.mtime, member.mtime))

    def _directory(self, parent: int, base: str, cpath: str, member: tarfile.TarInfo) -> None:
        try:
            os.mkdir(base, 0o700, dir_fd=parent)
        except FileExistsError:
            info = lstat_at(parent, base)
            if info is None or not stat.S_ISDIR(info.st_mode):
                self._remove(parent, base)
                parent = self._parent(posixpath.dirname(cpath))
                os.mkdir(base, 0o700, dir_fd=parent)
        fd = open_dir_at(parent, base)
        try:
            self._owner(fd, cpath, member)
            self._dir_mode(fd, cpath, member)
        except BaseException:
            os.close(fd)
            raise
        # Its entries usually follow: it becomes the cached directory.
        self._uncache()
        self.cached = (cpath, fd)

    def _dir_mode(self, fd: int, cpath: str, member: tarfile.TarInfo) -> None:
        # Rootless, the builder must keep write access to directories it does not own in the
        # image (later layers and %post write into them); squashfs ownership comes from
        # elsewhere. As root, a mode without u+rwx waits for the end of the archive.
        mode = stat.S_IMODE(member.mode)
        os.fchmod(fd, mode | 0o700)
        if (self.is_root or self.exact_dir_modes) and mode & 0o700 != 0o700:
            info = os.fstat(fd)
            self.dir_modes.append((cpath, info.st_dev, info.st_ino, mode))

    def _hard_link(self, parent: int, base: str, member: tarfile.TarInfo) -> None:
        source_c = _member_path(member.linkname)
        try:
            src_dir, src_name = self.root.parent(source_c)
        except (FileNotFoundError, NotADirectoryError):
            raise BuildError(f"hard link {member.name!r} -> {member.linkname!r}: no such member"
                             ) from None
        try:
            info = lstat_at(src_dir, src_name)
            if info is None:
                raise BuildError(
                    f"hard link {member.name!r} -> {member.linkname!r}: no such member")
            if stat.S_ISDIR(info.st_mode):
                raise BuildError(
                    f"hard link {member.name!r} -> {member.linkname!r}: a directory")
            os.link(src_name, base, src_dir_fd=src_dir, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(src_dir)

    def _owner(self, fd: int, cpath: str, member: tarfile.TarInfo) -> None:
        if self.is_root:
            os.fchown(fd, member.uid, member.gid)
        else:
            self._foreign_owner(cpath, member)

    def _foreign_owner(self, cpath: str, member: tarfile.TarInfo) -> None:
        if member.uid != 0 or member.gid != 0:
            self.special.append(SpecialEntry(cpath, "m", stat.S_IMODE(member.mode),
                                             member.uid, member.gid))

    def _clear_lower(self, dirfd: int, cdir: str) -> None:
        """Remove what earlier layers put under directory `dirfd`, keeping this layer's
        entries (iteratively, through descriptors)."""
        todo = [(open_dir_at(dirfd, "."), cdir)]
        try:
            while todo:
                fd, here = todo.pop()
                try:
                    for child in os.listdir(fd):
                        child_c = posixpath.join(here, child)
                        if child_c not in self.written:
                            remove_at(fd, child)
                            continue
                        info = lstat_at(fd, child)
                        if info is not None and stat.S_ISDIR(info.st_mode):
                            todo.append((open_dir_at(fd, child), child_c))
                finally:
                    os.close(fd)
        finally:
            for fd, _ in todo:
                os.close(fd)

    def _mark_written(self, cpath: str) -> None:
        # Parents count too: a layer may create `a/b/c` without listing `a/b`.
        while cpath not in self.written and cpath != "/":
            self.written.add(cpath)
            cpath = posixpath.dirname(cpath)

    def _whiteout(self, parent_c: str, base: str) -> None:
        self._uncache()  # what is removed may be on the cached directory's path
        if base != OPAQUE_MARKER:
            name = base[len(WHITEOUT_PREFIX):]
            if name in ("", ".", "..") or "/" in name:
                raise BuildError(f"invalid whiteout {posixpath.join(parent_c, base)!r}")
            try:
                fd = self.root.open_dir(parent_c)
            except (FileNotFoundError, NotADirectoryError):
                return  # nothing there to hide
            try:
                remove_at(fd, name)
            finally:
                os.close(fd)
            return
        # An opaque marker hides a directory's lower content; on a symlink (or anything but a
        # directory) there is nothing to clear: the link is not followed.
        try:
            dirfd, dname = self.root.parent(parent_c)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            info = lstat_at(dirfd, dname)
            if info is not None and stat.S_ISDIR(info.st_mode):
                fd = open_dir_at(dirfd, dname)
                try:
                    self._clear_lower(fd, parent_c)
                finally:
                    os.close(fd)
        finally:
            os.close(dirfd)


def _check_header(member: tarfile.TarInfo) -> None:
    """Values a PAX header can carry but no file can have: one clear error, not a crash."""
    for what, value in (("uid", member.uid), ("gid", member.gid)):
        if not 0 <= value <= _MAX_ID:
            raise BuildError(f"archive member {member.name!r}: {what} {value} is out of range")
    if not math.isfinite(member.mtime) or abs(member.mtime) >= _MAX_TIME:
        raise BuildError(f"archive member {member.name!r}: mtime {member.mtime} is out of range")
    if member.ischr() or member.isblk():
        for what, value, bits in (("major", member.devmajor, 12), ("minor", member.devminor, 20)):
            if not 0 <= value < 2**bits:  # the kernel's dev_t
                raise BuildError(f"archive member {member.name!r}: device {what} {value} is "
                                 "out of range")
