"""Output formats for lint results: each a function from a Report to text, in one dict.

A format's module is imported when the format is used: a `defkit lint` run pays for the text
format only, not for JSON, hashing and SARIF's rule documentation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from defkit.report.base import Report, at_or_above, counts


class _Format:
    """A format function named by module and attribute, imported on first call."""

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def __call__(self, report: Report) -> str:
        render: Callable[[Report], str] = getattr(
            importlib.import_module(self.module), self.function
        )
        return render(report)


FORMATS: dict[str, Callable[[Report], str]] = {
    "text": _Format("defkit.report.text", "render"),
    "json": _Format("defkit.report.ci", "render_json"),
    "sarif": _Format("defkit.report.sarif", "render"),
    "github": _Format("defkit.report.ci", "render_github"),
    "gitlab": _Format("defkit.report.ci", "render_gitlab"),
}

#: `--statistics`: counts per rule instead of the findings.
STATISTICS: dict[str, Callable[[Report], str]] = {
    "text": _Format("defkit.report.text", "render_statistics"),
    "json": _Format("defkit.report.ci", "render_statistics_json"),
}

__all__ = ["FORMATS", "STATISTICS", "Report", "at_or_above", "counts", "render"]


def render(format_name: str, report: Report) -> str:
    return FORMATS[format_name](report)
