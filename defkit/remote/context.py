"""The build context of a remote build: the host files a definition's `%files` copy, as the
gzip'd tar the Sylabs protocol uploads (`POST v1/build-context`, then `PUT` to its Location).

What goes in, as SingularityCE's client does it (sylabs/scs-build-client `client/archive.go`):
the sources of every `%files` section that copies from the host (not `%files from STAGE`) and of
every `%appfiles`, globs expanded (by the caller, with the engine's own matching:
`defkit.remote_build.context_sources`), directories walked; each path absolute (relative
sources are taken from the def file's directory, where defkit's engine takes them) and stored
without its leading `/`; directories end in `/`; symlinks are followed and stored as what they
point at (as `cp -L`, the engine's host copy, would copy them); any other file type is refused;
a path met twice is stored once.

Unlike the Go client, the archive is deterministic: entries in sorted order, times 0, owners
0/0 without names, permission bits kept, a gzip header without time or name. The same inputs
give the same `sha256.<hex>`, so a server that already holds that context skips the upload.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Optional

from defkit.errors import BuildError
from defkit.model import Span
from defkit.remote.protocol import format_checksum
from defkit.sif.oras import sha256_file

#: A symlinked directory can point at its own ancestor; the engine's copy stops at this depth
#: too (`safepath.MAX_COPY_DEPTH`), so a context never holds more than a build could copy.
MAX_DEPTH = 256


@dataclass(frozen=True)
class Source:
    """One host path a `%files` line names (after glob expansion)."""

    path: str  # absolute, normalised
    written: str  # the source as the def file writes it (for messages)
    span: Optional[Span]


@dataclass(frozen=True)
class ContextArchive:
    """A written build context: the file, its size and its protocol checksum."""

    path: str
    size: int
    checksum: str  # sha256.<hex> of the gzip'd bytes
    entries: tuple[str, ...]  # the tar member names, in order


def _walk(source: Source) -> Iterator[tuple[str, os.stat_result]]:
    """(host path, stat following symlinks) of `source` and, for a directory, everything under
    it in sorted order; symlinked directories are descended into, as `cp -L` does."""
    stack: list[tuple[str, int]] = [(source.path, 0)]
    while stack:
        path, depth = stack.pop()
        try:
            info = os.stat(path)
        except OSError as exc:
            # A dangling symlink, or a file gone since the glob.
            raise BuildError(f"%files: {source.written}: {path}: {exc.strerror}",
                             span=source.span) from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise BuildError(f"%files: {source.written}: {path} is not a regular file or a "
                             "directory: it cannot be sent in a build context",
                             span=source.span)
        yield path, info
        if stat.S_ISDIR(info.st_mode):
            if depth >= MAX_DEPTH:
                raise BuildError(f"%files: {source.written}: directories nested deeper than "
                                 f"{MAX_DEPTH} under {source.path} (a symlink loop?)",
                                 span=source.span)
            try:
                names = sorted(os.listdir(path), reverse=True)  # popped in sorted order
            except OSError as exc:
                raise BuildError(f"%files: {source.written}: {path}: {exc.strerror}",
                                 span=source.span) from None
            stack.extend((os.path.join(path, name), depth + 1) for name in names)


def _member(path: str, info: os.stat_result) -> tarfile.TarInfo:
    name = path.lstrip("/")
    member = tarfile.TarInfo(name + "/" if stat.S_ISDIR(info.st_mode) else name)
    member.mode = stat.S_IMODE(info.st_mode)
    member.mtime = 0
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
    else:
        member.type = tarfile.REGTYPE
        member.size = info.st_size
    return member


def _add_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            tar.addfile(member, handle)
    except OSError as exc:
        raise BuildError(f"%files: cannot read {path}: {exc.strerror}") from None


def write_context(sources: list[Source], out: BinaryIO) -> tuple[str, ...]:
    """Write the gzip'd tar of `sources` to `out`; returns the member names written."""
    written: list[str] = []
    seen: set[str] = set()
    # mtime=0 and no file name: the gzip header is the same on every run.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for source in sorted(sources, key=lambda s: s.path):
            for path, info in _walk(source):
                member = _member(path, info)
                if member.name in seen:
                    continue
                seen.add(member.name)
                if member.isdir():
                    tar.addfile(member)
                else:
                    _add_file(tar, member, path)
                written.append(member.name)
    return tuple(written)


def build_context(sources: list[Source], def_path: str, directory: Optional[str] = None
                  ) -> ContextArchive:
    """The build context of `sources` (of the def file `def_path`, named in errors) as a
    temporary file in `directory`; the caller removes it."""
    fd, path = tempfile.mkstemp(prefix="defkit-build-context-", suffix=".tar.gz", dir=directory)
    try:
        with os.fdopen(fd, "w+b") as out:
            try:
                entries = write_context(sources, out)
            except BuildError as exc:
                if exc.path is None:
                    exc.path = def_path
                raise
        digest, size = sha256_file(path)
    except BaseException:
        os.unlink(path)
        raise
    return ContextArchive(path, size, format_checksum(digest.removeprefix("sha256:")), entries)


__all__ = ["ContextArchive", "Source", "build_context", "write_context"]
