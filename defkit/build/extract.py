"""Tar archives and image layers unpacked into a rootfs, never outside it.

Member names and hard links are checked, and every entry is written through `safe_join`, so a
hostile archive or layer is refused with a BuildError rather than half-applied (see
`defkit.build.safepath`). OCI whiteouts are applied when asked.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from defkit.build.safepath import StrPath, remove_entry, safe_join
from defkit.errors import BuildError
from defkit.runner import Runner, run

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
    runner: Runner = run,
) -> ExtractReport:
    """Extract a tar archive (plain, gzip, bzip2, xz or zstd) into `root`, never outside it.

    Refused with a BuildError: absolute member names, names or hard links climbing out with `..`,
    writing through a symlink that leaves the rootfs. Symlinks themselves are created verbatim (an
    absolute target means the container's root). Device nodes are created only as root; otherwise
    they, and ownership we cannot set, are returned in the report. With `whiteouts=True` OCI
    whiteouts are applied: `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its directory of what
    earlier layers put there.

    Python's `tarfile` filters are not used: `data_filter` refuses absolute symlinks and setuid
    bits, both normal in a root filesystem; this function does its own checks (also on 3.9).
    """
    with contextlib.ExitStack() as stack:
        fileobj = _open_stream(tar, stack, runner)
        archive = stack.enter_context(tarfile.open(fileobj=fileobj, mode="r|*"))
        return _Extractor(Path(os.path.realpath(root)), whiteouts).run(archive)


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
    return "/" if norm == "." else "/" + norm


class _Extractor:
    def __init__(self, root: Path, whiteouts: bool) -> None:
        self.root = root
        self.whiteouts = whiteouts
        self.is_root = os.geteuid() == 0
        self.written: set[str] = set()  # container paths this archive created (for opaque dirs)
        self.dir_modes: list[tuple[Path, int]] = []
        self.special: list[SpecialEntry] = []

    def run(self, archive: tarfile.TarFile) -> ExtractReport:
        count = 0
        for member in archive:
            count += 1
            try:
                self._member(archive, member)
            except OSError as exc:
                raise BuildError(f"cannot extract archive member {member.name!r}: "
                                 f"{exc.strerror or exc}") from None
        # Directory modes last, deepest first, so read-only directories could be filled.
        # Rootless, the builder must keep write access to directories it does not own in the
        # image (later layers and %post write into them); squashfs ownership comes from elsewhere.
        keep = 0 if self.is_root else 0o700
        for path, mode in reversed(self.dir_modes):
            os.chmod(path, mode | keep)
        return ExtractReport(members=count, special=tuple(self.special))

    def _member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        cpath = _member_path(member.name)
        parent_c, base = posixpath.split(cpath)
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent_c, base)
            return
        if cpath == "/":
            if member.isdir():
                self.dir_modes.append((self.root, stat.S_IMODE(member.mode)))
            return
        parent = safe_join(self.root, parent_c)
        if not parent.is_dir():
            if os.path.lexists(parent):
                raise BuildError(f"archive member {member.name!r}: {parent_c} is not a directory")
            parent.mkdir(mode=0o755, parents=True)
        target = parent / base
        self._mark_written(cpath)
        if member.isdir():
            if not target.is_dir() or target.is_symlink():
                remove_entry(target)
                target.mkdir(mode=0o700)
            os.chmod(target, 0o700 | stat.S_IMODE(member.mode))
            self.dir_modes.append((target, stat.S_IMODE(member.mode)))
            self._owner(target, cpath, member)
            return
        remove_entry(target)
        if member.isreg():
            src = archive.extractfile(member)
            assert src is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            source = safe_join(self.root, _member_path(member.linkname), follow_final=False)
            if not os.path.lexists(source):
                raise BuildError(
                    f"hard link {member.name!r} -> {member.linkname!r}: no such member"
                )
            os.link(source, target, follow_symlinks=False)
            return  # a hard link shares the inode: mode and owner are the target's
        elif member.isfifo():
            os.mkfifo(target, 0o600)
        elif member.ischr() or member.isblk():
            kind = "c" if member.ischr() else "b"
            if not self.is_root:
                self.special.append(SpecialEntry(cpath, kind, stat.S_IMODE(member.mode),
                                                 member.uid, member.gid, member.devmajor,
                                                 member.devminor))
                return
            dev_type = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(target, 0o600 | dev_type, os.makedev(member.devmajor, member.devminor))
        else:
            return  # unknown member types (sparse leftovers, sockets) are skipped like GNU tar
        self._owner(target, cpath, member)
        if not member.issym():
            os.chmod(target, stat.S_IMODE(member.mode))
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)

    def _clear_lower(self, directory: Path, cdir: str) -> None:
        """Remove what earlier layers put under `directory`, keeping this layer's entries."""
        for child in os.listdir(directory):
            child_c = posixpath.join(cdir, child)
            path = directory / child
            if child_c not in self.written:
                remove_entry(path)
            elif path.is_dir() and not path.is_symlink():
                self._clear_lower(path, child_c)

    def _mark_written(self, cpath: str) -> None:
        # Parents count too: a layer may create `a/b/c` without listing `a/b`.
        while cpath not in self.written and cpath != "/":
            self.written.add(cpath)
            cpath = posixpath.dirname(cpath)

    def _owner(self, target: Path, cpath: str, member: tarfile.TarInfo) -> None:
        if self.is_root:
            os.lchown(target, member.uid, member.gid)
        elif (member.uid != 0 or member.gid != 0) and not member.issym():
            self.special.append(SpecialEntry(cpath, "m", stat.S_IMODE(member.mode),
                                             member.uid, member.gid))

    def _whiteout(self, parent_c: str, base: str) -> None:
        parent = safe_join(self.root, parent_c)
        if base == OPAQUE_MARKER:
            if parent.is_dir() and not parent.is_symlink():
                self._clear_lower(parent, parent_c)
            return
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", "..") or "/" in name:
            raise BuildError(f"invalid whiteout {posixpath.join(parent_c, base)!r}")
        remove_entry(parent / name)
