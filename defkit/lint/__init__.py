"""defkit lint: rules over the parsed model, ShellCheck inside script sections, reports.

The library API (nothing here prints)::

    from defkit.lint import lint_paths
    for result in lint_paths(["Singularity.def"]):
        for problem in result.problems:
            print(problem.path, problem.span.line, problem.code, problem.message)

`lint_paths` finds each file's configuration (`.defkit.yaml` or `[tool.defkit]`, walking up);
`defkit.lint.linter.lint_text` lints one text with a given `LintConfig`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from defkit.lint.config import Overrides
    from defkit.lint.linter import FileResult

__all__ = ["lint_paths"]


def lint_paths(
    paths: Iterable[str],
    *,
    config_file: Optional[str] = None,
    overrides: Optional[Overrides] = None,
    shellcheck: bool = True,
) -> list[FileResult]:
    """Lint files (directories are searched for definition files), each with its configuration."""
    from defkit.lint import config as lint_config
    from defkit.lint.files import expand_paths, read_source
    from defkit.lint.linter import Source, lint_sources

    given = overrides or lint_config.Overrides()
    sources = [
        Source(
            path,
            read_source(path),
            lint_config.merge(lint_config.config_for(path, config_file), given),
        )
        for path in expand_paths(paths)
    ]
    return lint_sources(sources, shellcheck=shellcheck)
