"""The one exception the Dockerfile parser raises."""

from __future__ import annotations

from defkit.errors import DefkitError


class DockerfileParseError(DefkitError):
    """The Dockerfile is rejected where BuildKit rejects it; `format()` gives path:line:col."""


class ExpansionError(DockerfileParseError):
    """A word could not be processed (unterminated quote, bad `${...}`, `${VAR:?msg}`, bad pattern).

    Raised without a position by `defkit.dockerfile.expand`; callers add the instruction's.
    """
