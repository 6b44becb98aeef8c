"""Paths inside a rootfs that cannot leave it, and copies into a rootfs that stay inside.

A container path is resolved the way the container itself would see it: absolute paths and
absolute symlink targets start at the rootfs, symlinks are followed *inside* the rootfs. What would
leave the rootfs (a `..` above `/`, a relative symlink climbing out) is refused with a BuildError
rather than clamped, so a hostile definition file, archive or layer is reported, not half-applied.
`defkit.build.extract.extract_tar` unpacks archives and image layers with the same guarantees.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Union

from defkit.errors import BuildError

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


def remove_entry(path: Path) -> None:
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
        remove_entry(target)
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
    remove_entry(target)
    if stat.S_ISFIFO(mode):
        os.mkfifo(target, stat.S_IMODE(mode))
    elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and os.geteuid() == 0:
        os.mknod(target, mode, info.st_rdev)
    # Sockets, and device nodes when not root, cannot be copied; like `cp` we skip them.

