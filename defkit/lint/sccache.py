"""A cache of ShellCheck's findings per script snippet, so unchanged sections are not re-checked.

Keyed by the snippet text, its dialect, the ShellCheck options and the ShellCheck binary itself
(path, size, modification time), so a ShellCheck upgrade or an option change misses. One small
JSON file per snippet under `$XDG_CACHE_HOME/defkit/shellcheck` (or `~/.cache/...`), written
atomically. Any I/O problem just means a miss: the cache never changes what is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Optional

from defkit.atomic import replacing

FORMAT = "1"  # bump when what is stored changes

Comments = list[dict[str, object]]


class ResultCache:
    """ShellCheck's findings per script in `directory`; made by the caller and passed in, so
    nothing about it is process-wide (`ResultCache.default()` is the user's cache directory)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @classmethod
    def default(cls) -> Optional[ResultCache]:
        """The cache under `$XDG_CACHE_HOME/defkit/shellcheck`, or None when it cannot be used."""
        directory = cache_directory()
        return cls(directory) if directory is not None else None

    def key(self, binary: str, options: Sequence[str], dialect: str, text: str) -> str:
        return snippet_key(binary_identity(binary), options, dialect, text)

    def load(self, key: str) -> Optional[Comments]:
        return load(self.directory, key)

    def store(self, key: str, comments: Comments) -> None:
        store(self.directory, key, comments)


def cache_directory() -> Optional[str]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "defkit", "shellcheck")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    return directory if os.access(directory, os.W_OK) else None


def binary_identity(binary: str) -> str:
    try:
        info = os.stat(binary)
    except OSError:
        return binary
    return f"{os.path.realpath(binary)}:{info.st_size}:{info.st_mtime_ns}"


def snippet_key(identity: str, options: Sequence[str], dialect: str, text: str) -> str:
    digest = hashlib.sha256()
    for part in (FORMAT, identity, "\0".join(options), dialect, text):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0\1")
    return digest.hexdigest()


def _path(directory: str, key: str) -> str:
    return os.path.join(directory, key[:2], f"{key}.json")


def load(directory: str, key: str) -> Optional[Comments]:
    try:
        with open(_path(directory, key), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, list) else None


def store(directory: str, key: str, comments: Comments) -> None:
    target = _path(directory, key)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with replacing(target) as temporary, open(temporary, "w", encoding="utf-8") as out:
            json.dump(comments, out)
    except OSError:
        pass
