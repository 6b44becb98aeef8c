"""defkit lint: rules over the parsed model, ShellCheck inside script sections, reports.

The library API (nothing here prints)::

    from defkit.lint import lint_paths
    for result in lint_paths(["Singularity.def"]):
        for problem in result.problems:
            print(problem.path, problem.span.line, problem.code, problem.message)

`lint_paths` finds each file's configuration (`.defkit.yaml` or `[tool.defkit]`, walking up);
`read_sources` + `lint_sources` (in `defkit.lint.linter`) are the two halves, for callers that
change the text in between (`--fix`); `defkit.lint.linter.lint_text` lints one text with a
given `LintConfig`. Whether a run fails is the results' business (`FileResult.failed`,
`defkit.report.Report.failed`), not the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from defkit.lint.config import Overrides
    from defkit.lint.linter import FileResult, Source

__all__ = ["LintOptions", "lint_paths", "read_sources"]


@dataclass(frozen=True)
class LintOptions:
    """How to lint: where the configuration comes from and what to run."""

    config_file: Optional[str] = None  # instead of searching from each file
    overrides: Optional[Overrides] = None  # command-line values over the configuration
    shellcheck: bool = True
    cache: bool = False  # reuse ShellCheck's findings of unchanged scripts (user cache directory)
    stdin_name: Optional[str] = None  # the name reported for `-`, and where its config is found
    read_stdin: Optional[Callable[[], bytes]] = field(default=None, compare=False)


def read_sources(paths: Iterable[str], options: LintOptions = LintOptions()) -> list[Source]:
    """The files to lint (directories searched for definition files; `-` is standard input),
    each with the configuration that applies to it."""
    import os

    from defkit.lint import config as lint_config
    from defkit.lint.files import decode_source, expand_paths, read_source
    from defkit.lint.linter import Source

    given = options.overrides or lint_config.Overrides()
    finder = lint_config.ConfigFinder()
    sources = []
    for path in expand_paths(paths):
        if path == "-":
            name = options.stdin_name or "<stdin>"
            where = options.stdin_name or os.path.join(os.getcwd(), "stdin.def")
            data = options.read_stdin() if options.read_stdin is not None else b""
            text, config = decode_source(data), finder.config_for(where, options.config_file)
        else:
            name, text = path, read_source(path)
            config = finder.config_for(path, options.config_file)
        sources.append(Source(name, text, lint_config.merge(config, given)))
    return sources


def lint_paths(paths: Iterable[str], options: LintOptions = LintOptions()) -> list[FileResult]:
    """Lint files (directories are searched for definition files), each with its configuration."""
    from defkit.lint.linter import lint_sources

    cache = None
    if options.cache and options.shellcheck:
        from defkit.lint.sccache import ResultCache

        cache = ResultCache.default()
    return lint_sources(read_sources(paths, options), shellcheck=options.shellcheck, cache=cache)
