"""Paths inside a rootfs that cannot leave it, and copies into a rootfs that stay inside.

A container path is resolved the way the container itself would see it: absolute paths and
absolute symlink targets start at the rootfs, symlinks are followed *inside* the rootfs. What would
leave the rootfs (a `..` above `/`, a relative symlink climbing out) is refused with a BuildError
rather than clamped, so a hostile definition file, archive or layer is reported, not half-applied.
`extract_tar` unpacks archives and image layers with the same guarantees.
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
from pathlib import Path, PurePosixPath
from typing import IO, Any, Union

from defkit.errors import BuildError
from defkit.runner import Runner, run

StrPath = Union[str, "os.PathLike[str]"]

#: Linux's own limit on symlinks followed while resolving one path.
MAX_SYMLINKS = 40


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def safe_join(root: StrPath, path: str, *, follow_final: bool = True) -> Path:
    """The host path of container path `path` in rootfs `root`, symlinks resolved inside `root`.

    With `follow_final=False` a symlink as the last component is not followed (the caller is about
    to replace or create that entry, not write through it).
    """
    base = Path(os.path.realpath(root))
    pending = list(reversed(_parts(path)))
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if not resolved:
                raise BuildError(f"path {path!r} climbs above the root of the image")
            resolved.pop()
            continue
        candidate = base.joinpath(*resolved, part)
        if (pending or follow_final) and candidate.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                raise BuildError(f"path {path!r}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                # An absolute link means the container's root, never the host's.
                resolved = []
            elif _climbs_out(resolved, target):
                raise BuildError(
                    f"path {path!r}: symlink /{'/'.join([*resolved, part])} -> {target} "
                    "points outside the image"
                )
            pending.extend(reversed(_parts(target)))
            continue
        resolved.append(part)
    return base.joinpath(*resolved)


def _climbs_out(resolved: list[str], target: str) -> bool:
    depth = len(resolved)
    for part in _parts(target):
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def container_path(root: StrPath, host_path: StrPath) -> str:
    """The container path ("/etc/hosts") of a host path inside `root`."""
    rel = os.path.relpath(os.path.realpath(host_path), os.path.realpath(root))
    if rel == ".":
        return "/"
    if rel.startswith(".."):
        raise BuildError(f"{host_path} is not inside the image root {root}")
    return "/" + rel


def _remove(path: Path) -> None:
    """Remove whatever `path` is (a symlink itself, never its target)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def copy_into(
    root: StrPath, src: StrPath, dst: str, *, follow_symlinks: bool = True
) -> Path:
    """Copy host file or tree `src` to container path `dst`, like `cp -fLr src dst` would inside
    the rootfs; returns the host path written.

    `dst` ending in "/" is a directory (created); an existing directory receives `basename(src)`;
    otherwise `dst` names the copy and its parent is created. `follow_symlinks=True` copies what
    symlinks point to (host copies, `cp -L`); `False` keeps them as symlinks (stage-to-stage copies,
    where the source is another rootfs). Every entry is resolved inside `root` as it is written, so
    symlinks already in the rootfs cannot redirect the copy outside.
    """
    source = Path(src)
    if not os.path.lexists(source):
        raise BuildError(f"copy source {src} does not exist")
    name = source.name or os.path.basename(os.path.realpath(source))
    if dst.endswith("/"):
        target_dir = safe_join(root, dst)
        target_dir.mkdir(parents=True, exist_ok=True)
        dst = dst.rstrip("/") + "/" + name
    else:
        if safe_join(root, dst).is_dir():
            dst = dst.rstrip("/") + "/" + name
        else:
            safe_join(root, str(PurePosixPath("/", dst).parent)).mkdir(parents=True, exist_ok=True)
    _copy_entry(root, source, dst, follow_symlinks, depth=0)
    return safe_join(root, dst, follow_final=False)


def _keep_owner(target: Path, info: os.stat_result, follow: bool) -> None:
    # Host copies (`cp -L`, no -p) belong to the builder; stage-to-stage copies keep ownership
    # where we are allowed to set it.
    if not follow and os.geteuid() == 0:
        os.lchown(target, info.st_uid, info.st_gid)


def _copy_entry(root: StrPath, src: Path, dst: str, follow: bool, depth: int) -> None:
    if depth > 256:
        raise BuildError(f"copy of {src}: directory nesting too deep (a symlink loop?)")
    info = src.stat() if follow else src.lstat()
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        target = safe_join(root, dst, follow_final=False)
        _remove(target)
        os.symlink(os.readlink(src), target)
        _keep_owner(target, info, follow)
        return
    if stat.S_ISDIR(mode):
        target = safe_join(root, dst)
        if os.path.lexists(target) and not target.is_dir():
            raise BuildError(f"cannot overwrite non-directory {dst} with directory {src}")
        target.mkdir(exist_ok=True)
        os.chmod(target, stat.S_IMODE(mode) | stat.S_IWUSR | stat.S_IXUSR)
        for child in sorted(os.listdir(src)):
            _copy_entry(root, src / child, dst.rstrip("/") + "/" + child, follow, depth + 1)
        os.chmod(target, stat.S_IMODE(mode))
        _keep_owner(target, info, follow)
        return
    if stat.S_ISREG(mode):
        # cp writes through an existing symlink at the destination; resolving it inside the
        # rootfs keeps that behaviour without letting it point at the host.
        target = safe_join(root, dst)
        if target.is_dir():
            raise BuildError(f"cannot overwrite directory {dst} with non-directory {src}")
        if os.path.lexists(target):
            target.unlink()
        shutil.copyfile(src, target, follow_symlinks=True)
        _keep_owner(target, info, follow)  # before chmod: chown clears setuid bits
        os.chmod(target, stat.S_IMODE(mode))
        if not follow:
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
        return
    target = safe_join(root, dst, follow_final=False)
    _remove(target)
    if stat.S_ISFIFO(mode):
        os.mkfifo(target, stat.S_IMODE(mode))
    elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and os.geteuid() == 0:
        os.mknod(target, mode, info.st_rdev)
    # Sockets, and device nodes when not root, cannot be copied; like `cp` we skip them.


# --- tar extraction -----------------------------------------------------------------------------

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
                _remove(target)
                target.mkdir(mode=0o700)
            os.chmod(target, 0o700 | stat.S_IMODE(member.mode))
            self.dir_modes.append((target, stat.S_IMODE(member.mode)))
            self._owner(target, cpath, member)
            return
        _remove(target)
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
                _remove(path)
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
        _remove(parent / name)
