"""Outputs written under a temporary name beside their target and renamed over it, so an
interrupted or killed run never leaves half a file: the project's one implementation of that."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Optional

from defkit.errors import UsageError

#: The mode of a new output when the caller names none (what `open()` gives under umask 022).
NEW_FILE_MODE = 0o644


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask can only read it by setting it,
    which would race with other threads creating files): Linux reports it in /proc/self/status
    since 4.7; 022 where it does not."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextlib.contextmanager
def replacing(path: str, *, mode: Optional[int] = None) -> Iterator[str]:
    """A temporary path beside `path`, renamed over `path` when the block succeeds and removed when
    it fails. The result gets `mode`, else the mode `path` already has, else NEW_FILE_MODE."""
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = NEW_FILE_MODE
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    os.close(fd)
    try:
        yield temporary
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(path: str, text: str, *, mode: Optional[int] = None) -> None:
    """Write `text` (UTF-8, newlines as given) to `path` atomically; a failure is one line."""
    try:
        with replacing(path, mode=mode) as temporary, \
                open(temporary, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
