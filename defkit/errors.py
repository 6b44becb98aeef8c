"""defkit's exceptions: one base class the CLI turns into a one-line message and an exit code."""

from __future__ import annotations

from typing import Optional

from defkit.model import Span


class DefkitError(Exception):
    """An error the user can act on. The CLI prints `format()` and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, *, path: Optional[str] = None, span: Optional[Span] = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.span = span

    def format(self) -> str:
        where = self.path or ""
        if self.span is not None:
            where = f"{where}:{self.span.line}:{self.span.column}"
        return f"{where}: error: {self.message}" if where else f"error: {self.message}"


class DefParseError(DefkitError):
    """The definition file is rejected (where Apptainer rejects it, or would crash).

    `kind` says which check failed, so the linter can report it under the matching rule:
    "invalid-section", "invalid-header-key", "header-no-value", "header-continuation",
    "section-split", "app-section-split", "files-quote", "token-too-long", "empty",
    "no-stages", "encoding", "undefined-build-arg", "unused-build-arg", "build-arg", and
    "syntax" where the grammar rejects a stage (which would be a defkit bug: it accepts every
    sequence of lines).
    """

    def __init__(
        self,
        message: str,
        *,
        path: Optional[str] = None,
        span: Optional[Span] = None,
        kind: str = "syntax",
    ):
        super().__init__(message, path=path, span=span)
        self.kind = kind


class ConfigError(DefkitError):
    """A configuration file or option is wrong."""

    exit_code = 2


class UsageError(DefkitError):
    exit_code = 2


class BuildError(DefkitError):
    """A build step failed."""


class ToolMissingError(DefkitError):
    """An external program defkit needs is not installed."""
