"""What a conversion returns: the text plus positioned notes (warnings are data, never printed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Optional

from defkit.errors import DefkitError
from defkit.model import Span

SEVERITIES = ("info", "warning")


@dataclass(frozen=True)
class Note:
    """Something the converter could not carry over exactly, at a line of the input file."""

    line: int
    column: int
    severity: str  # "info" or "warning"
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}:{self.column}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class Conversion:
    """The converted file's text and the notes about it, sorted by position."""

    text: str
    notes: tuple[Note, ...]
    source_format: str  # "dockerfile" or "def"
    target_format: str  # "def" or "dockerfile"
    stages: tuple[str, ...] = ()  # names of the stages written, in order


_POSITION = attrgetter("line", "column")  # (line, column) of a Note: the order of the notes


class ConvertError(DefkitError):
    """The input cannot be converted at all (for example `--target` names no stage)."""


@dataclass
class NoteSink:
    """Collects notes while converting; one note per (line, message) even when stages replay."""

    notes: list[Note] = field(default_factory=list)
    _seen: set[tuple[int, str]] = field(default_factory=set)

    def add(self, span: Optional[Span], severity: str, message: str) -> None:
        line = span.line if span is not None else 1
        column = span.column if span is not None else 1
        if (line, message) in self._seen:
            return
        self._seen.add((line, message))
        self.notes.append(Note(line, column, severity, message))

    def warn(self, span: Optional[Span], message: str) -> None:
        self.add(span, "warning", message)

    def info(self, span: Optional[Span], message: str) -> None:
        self.add(span, "info", message)

    def sorted(self) -> tuple[Note, ...]:
        return tuple(sorted(self.notes, key=_POSITION))
