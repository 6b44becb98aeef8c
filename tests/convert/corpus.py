"""Convert the shared Dockerfile corpus once per test session (shared by the corpus tests)."""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass
from typing import Optional

from defkit.convert import Conversion, convert_dockerfile
from defkit.errors import DefkitError
from tests.shared import CORPUS_DOCKERFILES


@dataclass(frozen=True)
class Outcome:
    path: pathlib.Path
    conversion: Optional[Conversion]
    error: Optional[DefkitError]


def corpus_files() -> list[pathlib.Path]:
    return sorted(
        p for p in CORPUS_DOCKERFILES.rglob("*") if p.is_file() and p.name != "MANIFEST.txt"
    )


@functools.lru_cache(maxsize=1)
def converted() -> tuple[Outcome, ...]:
    outcomes = []
    for path in corpus_files():
        try:
            result = convert_dockerfile(path.read_text(encoding="utf-8"), str(path))
            outcomes.append(Outcome(path, result, None))
        except DefkitError as exc:
            outcomes.append(Outcome(path, None, exc))
    return tuple(outcomes)
