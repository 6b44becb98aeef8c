"""Reading sources, finding definition files under directories, and writing files atomically."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from defkit.errors import UsageError

#: The names the pre-commit hook matches: *.def, Singularity, Singularity.*, Apptainer, Apptainer.*
DEF_NAME = re.compile(r"(^|/)(Singularity|Apptainer)(\.[^/]+)?$|\.def$")
_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox"}


def is_def_name(path: str) -> bool:
    return DEF_NAME.search(path.replace(os.sep, "/")) is not None


def expand_paths(paths: Iterable[str]) -> Iterator[str]:
    """Files as given; directories searched for definition files (sorted, VCS dirs skipped)."""
    for path in paths:
        if path == "-" or os.path.isfile(path):
            yield path
        elif os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(names):
                    if is_def_name(name):
                        yield os.path.join(root, name)
        else:
            raise UsageError(f"{path}: no such file or directory")


def read_source(path: str) -> str:
    """The file's text (see `decode_source`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from exc
    return decode_source(data)


def decode_source(data: bytes) -> str:
    """Text from a file's bytes; bytes that are not UTF-8 become lone surrogates, which the
    linter turns back into the bytes for the parser to report (never into the output)."""
    return data.decode("utf-8", errors="surrogateescape")
