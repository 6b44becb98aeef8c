"""Make and read squashfs images with squashfs-tools, reproducibly.

The flags are the ones the SIF spec §5 found to give the same bytes across runs, touched files,
processor counts and copied trees with mksquashfs 4.5.1:
`-noappend -comp gzip -no-xattrs -mkfs-time T -all-time T -quiet -no-progress` (+ `-all-root`).
SOURCE_DATE_EPOCH is removed from mksquashfs's environment: 4.5.1 refuses it together with the
time flags ("can't be used at the same time").
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

from defkit.errors import BuildError, DefkitError
from defkit.runner import run, run_streaming

PathLike = Union[str, "os.PathLike[str]"]

_PROGRESS = re.compile(r"\]\s+(\d+)/(\d+)\s+\d+%")
_LS_LINE = re.compile(
    r"^(?P<mode>[-a-zA-Z]{10})\s+(?P<uid>\d+)/(?P<gid>\d+)\s+(?P<size>\d+|\d+,\s*\d+)\s+"
    r"\d{4}-\d\d-\d\d \d\d:\d\d\s(?P<path>.*)$"
)
_LS_ROOT = "squashfs-root"  # unsquashfs prefixes every listed path with its (unused) dest dir
#: pseudo.c's MAX_LINE: a longer pseudo-file line is refused by mksquashfs 4.5.1.
PSEUDO_LINE_MAX = 16384
#: Bytes escaped with a backslash inside a quoted pseudo name: the two the parser gives a meaning
#: to inside quotes, and every C0 control and DEL (not needed by the parser once quoted, escaped
#: so that no control byte reaches the file bare).
_PSEUDO_ESCAPED = frozenset(b'\\"') | frozenset(range(0x20)) | {0x7F}


#: unsquashfs reads one image's tables or one file: minutes at most, unless the image is crafted.
READ_TIMEOUT = 600.0
#: mksquashfs of a multi-GB rootfs on slow disks takes long; a day means it hangs.
PACK_TIMEOUT = 24 * 3600.0


class SquashfsError(DefkitError):
    """A squashfs image (or the squashfs partition of a SIF) cannot be read."""


@dataclass(frozen=True)
class SquashEntry:
    """One line of `unsquashfs -lln`: path relative to the image root ("" for the root)."""

    mode: str  # e.g. "drwxr-xr-x", "crw-rw-rw-"
    uid: int
    gid: int
    size: str  # byte count, or "MAJ,MIN" for devices
    path: str
    target: str | None  # symlink target


def pseudo_name(path: str) -> bytes:
    """`path` (in the image; leading `/` optional; invalid UTF-8 as surrogate escapes) as the name
    field of a mksquashfs 4.5.1 pseudo-file line, always double-quoted.

    Written by hand: squashfs-tools has no library for it. The rules are pseudo.c's
    `read_pseudo_file`/`read_pseudo_def`: a line ends at `\\n` (a trailing `\\` joins the next
    one), the name ends at white space outside double quotes, `"` toggles quoting and `\\` makes
    the next byte literal, whatever it is. So inside quotes a backslash before any byte gives that
    byte, and the one thing no escape can express is a newline: such a name is refused (a name
    that could end its line could add a line of its own, e.g. an `f` entry that runs a command).
    """
    rel = path.strip("/")
    raw = os.fsencode(rel)
    shown = ascii("/" + rel)
    if b"\n" in raw or b"\0" in raw:
        raise BuildError(f"cannot give {shown} its owner or device type in the image: mksquashfs "
                         "pseudo files cannot name a path holding a newline")
    if any(part in (b"", b".", b"..") for part in raw.split(b"/")) and raw:
        raise BuildError(f"cannot give {shown} its owner or device type in the image: "
                         "empty, `.` or `..` path component")
    quoted = bytearray(b'"')
    for byte in raw:
        if byte in _PSEUDO_ESCAPED:
            quoted.append(0x5C)
        quoted.append(byte)
    quoted.append(0x22)
    return bytes(quoted)


def pseudo_line(path: str, definition: str) -> bytes:
    """One pseudo-file line: the quoted `path`, then `definition` (`m 755 0 0`, `c 666 0 0 1 3`),
    which must be plain printable ASCII (numbers and a type letter)."""
    if not (definition.isascii() and definition.isprintable()) or not definition:
        raise ValueError(f"pseudo definition {definition!r} is not printable ASCII")
    line = pseudo_name(path) + b" " + definition.encode("ascii") + b"\n"
    if len(line) > PSEUDO_LINE_MAX:
        raise BuildError(f"cannot give {ascii('/' + path.strip('/'))} its owner or device type "
                         f"in the image: its pseudo-file line is over {PSEUDO_LINE_MAX} bytes")
    return line


def mksquashfs_argv(
    rootfs: PathLike,
    out_path: PathLike,
    *,
    source_date_epoch: int,
    processors: int | None = None,
    all_root: bool = True,
    pseudo_file: str | None = None,
    excludes: Sequence[str] = (),
    progress: bool = False,
) -> list[str]:
    """The mksquashfs command line (without any wrapper); exposed for logs and tests."""
    when = str(int(source_date_epoch))
    argv = [
        "mksquashfs",
        os.fspath(rootfs),
        os.fspath(out_path),
        "-noappend",
        "-comp",
        "gzip",
        "-no-xattrs",
        "-mkfs-time",
        when,
        "-all-time",
        when,
        "-quiet",
        "-processors",
        str(processors if processors is not None else _cpu_count()),
    ]
    if not progress:
        argv.append("-no-progress")
    if all_root:
        argv.append("-all-root")
    if pseudo_file is not None:
        argv += ["-pf", pseudo_file]
    if excludes:
        # -e takes every remaining argument, so it must come last.
        argv += ["-e", *(e.lstrip("/") for e in excludes)]
    return argv


def make_squashfs(
    rootfs: PathLike,
    out_path: PathLike,
    *,
    source_date_epoch: int,
    processors: int | None = None,
    all_root: bool = True,
    pseudo_file: str | None = None,
    excludes: Sequence[str] = (),
    wrapper: Sequence[str] = (),
    progress: Callable[[float], None] | None = None,
) -> None:
    """Squash `rootfs` into `out_path` (temp name in the same dir, then rename).

    `source_date_epoch` sets every inode time and the superblock time. `processors` defaults to
    all cores. `all_root` makes every file 0:0 (turn it off when ownership comes from a wrapper,
    e.g. `wrapper=["unshare", "-r", "fakeroot", "-i", STATE, "--"]`, or from `pseudo_file`, a
    mksquashfs `-pf` definitions file). `excludes` are paths relative to the rootfs (`-e`).
    `progress` receives 0.0-100.0 as mksquashfs reports it. Raises BuildError with mksquashfs's
    message on failure, ToolMissingError when mksquashfs is absent.
    """
    root = os.fspath(rootfs)
    out = os.fspath(out_path)
    if not os.path.isdir(root):
        raise BuildError(f"cannot squash {root}: not a directory", path=root)
    out_dir = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    argv = [*wrapper] + mksquashfs_argv(
        root,
        tmp,
        source_date_epoch=source_date_epoch,
        processors=processors,
        all_root=all_root,
        pseudo_file=pseudo_file,
        excludes=excludes,
        progress=progress is not None,
    )
    # mksquashfs 4.5.1 refuses SOURCE_DATE_EPOCH together with -mkfs-time/-all-time.
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    try:
        if progress is None:
            result = run(argv, env=env, timeout=PACK_TIMEOUT)
            output = result.stderr + result.stdout
        else:
            callback = progress
            lines: list[str] = []

            def on_line(line: str) -> None:
                match = _PROGRESS.search(line)
                if match is None:
                    lines.append(line)
                    return
                done, total = int(match.group(1)), int(match.group(2))
                callback(100.0 * done / total if total else 100.0)

            result = run_streaming(argv, on_line, env=env, timeout=PACK_TIMEOUT)
            output = result.stderr + "\n".join(lines).encode()
        if result.returncode != 0:
            raise BuildError(f"mksquashfs failed (exit {result.returncode}): {_message(output)}")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def unsquash_list(
    path: PathLike, offset: int = 0, *, members: Sequence[str] = ()
) -> list[SquashEntry]:
    """Every entry of the squashfs at `offset` in `path` (`unsquashfs -o OFFSET -lln`), or only
    `members` and what lies below them (their parent directories are listed too)."""
    argv = ["unsquashfs", "-o", str(offset), "-lln", "-no-wildcards", os.fspath(path)]
    result = run([*argv, *(m.lstrip("/") for m in members)], timeout=READ_TIMEOUT)
    if result.returncode != 0:
        raise SquashfsError(f"cannot list squashfs: {_message(result.stderr + result.stdout)}",
                            path=os.fspath(path))  # fmt: skip
    entries = []
    # split("\n"), not splitlines(): names may hold CR, NEL, U+2028 and other line breaks.
    for line in result.stdout.decode("utf-8", "surrogateescape").split("\n"):
        match = _LS_LINE.match(line)
        if match is None or not match.group("path").startswith(_LS_ROOT):
            continue
        name, target = match.group("path")[len(_LS_ROOT) :], None
        if match.group("mode").startswith("l") and " -> " in name:
            name, target = name.split(" -> ", 1)
        size = re.sub(r"\s+", "", match.group("size"))
        entries.append(
            SquashEntry(
                match.group("mode"),
                int(match.group("uid")),
                int(match.group("gid")),
                size,
                name.lstrip("/"),
                target,
            )
        )
    return entries


def unsquash_cat(path: PathLike, member: str, offset: int = 0) -> bytes | None:
    """Contents of the regular file `member` (absolute or relative to the image root), or None
    when it does not exist. Nothing is written to disk (`unsquashfs -cat`)."""
    argv = ["unsquashfs", "-o", str(offset), "-no-wildcards", "-cat", os.fspath(path)]
    result = run([*argv, member.lstrip("/")], timeout=READ_TIMEOUT)
    if result.returncode == 0:
        return result.stdout
    message = result.stderr.decode("utf-8", "replace")
    if "no matches for" in message or "is a directory" in message or "not a " in message:
        return None
    raise SquashfsError(f"cannot read {member} from squashfs: {_message(result.stderr)}",
                        path=os.fspath(path))  # fmt: skip


def unsquash_stat(path: PathLike, offset: int = 0) -> str:
    """The superblock report of `unsquashfs -s`; SquashfsError when the squashfs is unreadable."""
    result = run(["unsquashfs", "-s", "-o", str(offset), os.fspath(path)], timeout=READ_TIMEOUT)
    text = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0 or "Found a valid SQUASHFS" not in text:
        raise SquashfsError(f"squashfs unreadable: {_message(result.stderr + result.stdout)}",
                            path=os.fspath(path))  # fmt: skip
    return text


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _message(output: bytes) -> str:
    """The most telling line of squashfs-tools output: a FATAL ERROR line, else the first one
    (mksquashfs follows its real message with pages of usage text)."""
    lines = [ln.strip() for ln in output.decode("utf-8", "replace").splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "FATAL ERROR" in ln]
    return (fatal or lines or ["no output"])[0]
