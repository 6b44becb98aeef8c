"""What every format receives: the results of one run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from defkit.lint.linter import FileResult
from defkit.lint.problem import Problem, at_or_above

__all__ = ["Report", "at_or_above", "counts", "display_path", "fingerprints"]


@dataclass(frozen=True)
class Report:
    results: Sequence[FileResult]
    color: bool = False
    show_source: bool = True

    @property
    def problems(self) -> list[Problem]:
        return [problem for result in self.results for problem in result.problems]

    @property
    def failed(self) -> bool:
        """Whether the run fails: a file has a finding at its configured `fail-on` level or
        above, or one where Apptainer rejects the file (those always fail)."""
        return any(result.failed for result in self.results)

    @property
    def files_checked(self) -> int:
        return sum(1 for result in self.results if not result.skipped)


def counts(problems: Sequence[Problem]) -> dict[tuple[str, str], int]:
    """(code, name) -> number of findings, most frequent first."""
    tally: dict[tuple[str, str], int] = {}
    for problem in problems:
        key = (problem.code, problem.name)
        tally[key] = tally.get(key, 0) + 1
    return dict(sorted(tally.items(), key=lambda item: (-item[1], item[0])))


def display_path(path: str) -> str:
    """`path` relative to the working directory when it is below it, with `/` separators."""
    if path == "-" or path.startswith("<"):
        return path
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute == here or absolute.startswith(here.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, here).replace(os.sep, "/")
    return absolute.replace(os.sep, "/")


def fingerprints(problems: Sequence[Problem], lines: Sequence[str]) -> list[str]:
    """A stable id per problem: hash of code and the whitespace-normalised source line, plus the
    occurrence number of that pair in the file, so findings survive lines moving up or down."""
    import hashlib

    seen: dict[str, int] = {}
    found = []
    for problem in problems:
        source = lines[problem.span.line - 1] if 1 <= problem.span.line <= len(lines) else ""
        basis = f"{problem.code}\0{' '.join(source.split())}"
        digest = hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:16]
        seen[digest] = seen.get(digest, 0) + 1
        found.append(f"{digest}:{seen[digest]}")
    return found
