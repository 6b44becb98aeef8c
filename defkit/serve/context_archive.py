"""An uploaded build context unpacked into a build's work directory, never outside it.

A context holds the client's `%files` sources under their absolute paths without the leading `/`
(SingularityCE's layout). Before anything is written the whole archive is read once and refused
(one DefkitError) when it holds: an absolute name or one that climbs with `..`; anything but
files, directories, symlinks and hard links (device nodes, FIFOs); a symlink whose target is
absolute or climbs out of the context; more than `max_size` bytes or `MAX_MEMBERS` entries
unpacked. It is then written by the engine's one safe extraction (`extract_tar`, every entry
made through descriptors of the root), and every symlink in the result is resolved once more
(chains of links can climb where no single link does): the build's `%files` copies follow
symlinks on the host, so none may lead outside.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zlib

from defkit.engine.extract import extract_tar
from defkit.errors import BuildError, DefkitError
from defkit.safepath import check_path

#: Entries one context may have (a tar of millions of empty files is a denial of service too).
MAX_MEMBERS = 200_000


class ContextError(DefkitError):
    """An uploaded build context this server refuses to unpack."""


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/"):
        raise ContextError(f"build context: {name!r} has an absolute path")
    try:
        check_path("/" + name)
    except BuildError:
        raise ContextError(f"build context: {name!r} climbs out of the context") from None
    if member.issym():
        # A symlink's target is relative to its own directory, a hard link's to the root.
        _check_link("symlink", name, posixpath.join(posixpath.dirname(name), member.linkname),
                    member.linkname)
    elif member.islnk():
        _check_link("hard link", name, member.linkname, member.linkname)
    elif not (member.isfile() or member.isdir()):
        kind = "a device node" if member.ischr() or member.isblk() else "a special file"
        raise ContextError(f"build context: {name!r} is {kind} (only files, directories and "
                           "links are allowed)")


def _check_link(kind: str, name: str, resolved: str, target: str) -> None:
    if target.startswith("/"):
        raise ContextError(f"build context: {kind} {name!r} points to the absolute path "
                           f"{target!r}")
    try:
        check_path("/" + resolved)
    except BuildError:
        raise ContextError(f"build context: {kind} {name!r} points out of the context") from None


def check_archive(path: str, max_size: int) -> int:
    """Read the whole archive and refuse what a context may not hold; its unpacked size."""
    total = 0
    members = 0
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                members += 1
                if members > MAX_MEMBERS:
                    raise ContextError(f"build context: more than {MAX_MEMBERS} entries")
                _check_member(member)
                total += max(member.size, 0) if member.isfile() else 0
                if total > max_size:
                    raise ContextError(f"build context: more than {max_size} bytes unpacked "
                                       "(the server's context size limit)")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ContextError(f"build context: not a readable gzip'd tar archive: {exc}") from None
    return total


def check_links(root: str) -> None:
    """Refuse a tree in which a symlink resolves (through any chain) outside `root`."""
    real_root = os.path.realpath(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            # Not strict: a dangling link's target is checked as far as it resolves.
            resolved = os.path.realpath(path)
            if os.path.commonpath([resolved, real_root]) != real_root:
                relative = os.path.relpath(path, root)
                raise ContextError(f"build context: symlink {relative!r} leads out of the "
                                   "context")


def unpack_context(archive: str, root: str, max_size: int) -> None:
    """Check `archive` and unpack it into the existing directory `root`."""
    check_archive(archive, max_size)
    extract_tar(archive, root)
    check_links(root)
