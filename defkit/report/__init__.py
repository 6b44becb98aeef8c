"""Output formats for lint results: each a function from a Report to text, in one dict."""

from __future__ import annotations

from collections.abc import Callable

from defkit.report import ci, sarif, text
from defkit.report.base import Report, at_or_above, counts

FORMATS: dict[str, Callable[[Report], str]] = {
    "text": text.render,
    "json": ci.render_json,
    "sarif": sarif.render,
    "github": ci.render_github,
    "gitlab": ci.render_gitlab,
}

#: `--statistics`: counts per rule instead of the findings.
STATISTICS: dict[str, Callable[[Report], str]] = {
    "text": text.render_statistics,
    "json": ci.render_statistics_json,
}

__all__ = ["FORMATS", "STATISTICS", "Report", "at_or_above", "counts", "render"]


def render(format_name: str, report: Report) -> str:
    return FORMATS[format_name](report)
