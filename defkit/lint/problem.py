"""What a lint rule reports: a Problem at a Span, optionally with a Fix made of text edits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from defkit.model import Span

Severity = Literal["error", "warning", "info", "style"]
#: Lowest first, so `SEVERITIES.index(a) >= SEVERITIES.index(threshold)` means "at or above".
SEVERITIES: tuple[Severity, ...] = ("style", "info", "warning", "error")


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether `severity` reaches `threshold` (`none` is never reached)."""
    levels: tuple[str, ...] = SEVERITIES
    if threshold not in levels or severity not in levels:
        return False
    return levels.index(severity) >= levels.index(threshold)


@dataclass(frozen=True)
class Edit:
    """Replace the text at `span` (end exclusive) with `replacement`."""

    span: Span
    replacement: str


@dataclass(frozen=True)
class Fix:
    description: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Problem:
    """A finding. Rules fill span, message and fix; the linter stamps code, name, severity, path."""

    span: Span
    message: str
    fix: Optional[Fix] = None
    code: str = ""
    name: str = ""
    severity: Severity = "warning"
    path: str = ""

    @property
    def fixable(self) -> bool:
        return self.fix is not None
