"""Shared helpers for the lint framework tests."""

from __future__ import annotations

import textwrap
from typing import Any

from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.lint.linter import FileResult, lint_text


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


#: ShellCheck at every level (the default asks for warnings and errors only).
EVERY_LEVEL = ShellcheckOptions(severity="style")


def own(**fields: Any) -> LintConfig:
    """A configuration with only the framework's rules and ShellCheck (at every level)
    selected, so that the rules added over time do not change what these tests expect."""
    fields.setdefault("select", ("DK0", "SC"))
    fields.setdefault("shellcheck", EVERY_LEVEL)
    return LintConfig(**fields)


def lint(text: str, config: LintConfig | None = None, *, shellcheck: bool = False) -> FileResult:
    return lint_text(dedent(text), "test.def", config or own(), shellcheck=shellcheck)


def positions(result: FileResult, code: str | None = None) -> list[tuple[str, int, int]]:
    return [
        (p.code, p.span.line, p.span.column)
        for p in result.problems
        if code is None or p.code == code
    ]
