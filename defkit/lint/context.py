"""What a rule sees: the parsed file, the settings that apply to it, and its own options."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional, Protocol

from defkit.errors import DefParseError
from defkit.lint.config import Settings
from defkit.lint.problem import Problem, Severity
from defkit.model import DefFile

__all__ = ["LintContext", "Rule", "Settings"]


@dataclass(frozen=True)
class LintContext:
    path: str
    text: str
    deffile: Optional[DefFile]  # None when even the lenient parse produced nothing
    parse_errors: tuple[DefParseError, ...]
    settings: Settings
    options: Mapping[str, Any] = field(default_factory=dict)  # this rule's options, defaults filled

    @property
    def lines(self) -> list[str]:
        """The file's lines, split once per file however many rules ask (do not modify)."""
        return _split_lines(self.text)


@lru_cache(maxsize=4)
def _split_lines(text: str) -> list[str]:
    return text.split("\n")


class Rule(Protocol):
    """A rule is a module with these names; its docstring is the user documentation.

    A module may also set `ENABLED_BY_DEFAULT = False` to make the rule opt-in (selected only by
    `select`); see `defkit.lint.rules.enabled_by_default`.
    """

    # Read-only properties so that a module's plain constants satisfy the protocol for mypy.
    @property
    def CODE(self) -> str: ...  # "DK" + three digits

    @property
    def NAME(self) -> str: ...  # kebab-case

    @property
    def SEVERITY(self) -> Severity: ...  # annotate it in the module: `SEVERITY: Severity = "info"`

    @property
    def OPTIONS(self) -> Mapping[str, Any]: ...  # option name -> default value

    @property
    def FIXABLE(self) -> bool: ...

    def check(self, ctx: LintContext) -> Iterator[Problem]: ...
