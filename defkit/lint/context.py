"""What a rule sees: the parsed file, the settings that apply to it, and its own options."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Optional, Protocol

from defkit.errors import DefParseError
from defkit.lint.config import Settings
from defkit.lint.problem import Problem, Severity
from defkit.model import DefFile, Section

if TYPE_CHECKING:
    from defkit.lint.rules._shell import Command

__all__ = ["FileFacts", "LintContext", "Rule", "Settings"]


class FileFacts:
    """What several rules compute from one file, computed once: the linter makes one per file
    and gives it to the context of each rule, so it lives exactly as long as that file's lint."""

    def __init__(self, text: str) -> None:
        self.text = text

        self._commands: dict[Section, tuple[Command, ...]] = {}

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def commands(self, section: Section) -> tuple[Command, ...]:
        """The simple commands of a script section of this file (split once, for every rule)."""
        found = self._commands.get(section)
        if found is None:
            from defkit.lint.rules._shell import commands

            found = self._commands[section] = commands(section)
        return found


@dataclass(frozen=True)
class LintContext:
    path: str
    text: str
    deffile: Optional[DefFile]  # None when even the lenient parse produced nothing
    parse_errors: tuple[DefParseError, ...]
    settings: Settings
    options: Mapping[str, Any] = field(default_factory=dict)  # this rule's options, defaults filled
    facts: Optional[FileFacts] = None  # shared by the rules of one file (made here when not given)

    def __post_init__(self) -> None:
        if self.facts is None:
            object.__setattr__(self, "facts", FileFacts(self.text))

    @property
    def lines(self) -> list[str]:
        """The file's lines, split once per file however many rules ask (do not modify)."""
        assert self.facts is not None  # (set in __post_init__)
        return self.facts.lines

    def commands(self, section: Section) -> tuple[Command, ...]:
        """The simple commands of a script section (`defkit.lint.rules._shell.commands`),
        split once per file however many rules ask."""
        assert self.facts is not None
        return self.facts.commands(section)


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
