"""Machine formats: JSON, GitHub workflow commands, GitLab Code Quality."""

from __future__ import annotations

import hashlib
import json

from defkit.report.base import Report, counts, display_path, fingerprints

_GITHUB_LEVELS = {"error": "error", "warning": "warning", "info": "notice", "style": "notice"}
_GITLAB_LEVELS = {"error": "critical", "warning": "major", "info": "minor", "style": "info"}


def render_json(report: Report) -> str:
    findings = [
        {
            "path": display_path(p.path),
            "line": p.span.line,
            "column": p.span.column,
            "end_line": p.span.end_line,
            "end_column": p.span.end_column,
            "code": p.code,
            "name": p.name,
            "severity": p.severity,
            "message": p.message,
            "fixable": p.fixable,
        }
        for p in report.problems
    ]
    return json.dumps(findings, indent=2) + "\n"


def render_statistics_json(report: Report) -> str:
    fixable = {(p.code, p.name) for p in report.problems if p.fixable}
    rows = [
        {"code": code, "name": name, "count": count, "fixable": (code, name) in fixable}
        for (code, name), count in counts(report.problems).items()
    ]
    return json.dumps(rows, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    """`::warning file=...,line=...::message` lines that GitHub Actions shows as annotations."""
    lines = []
    for p in report.problems:
        properties = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("file", display_path(p.path)),
                ("line", p.span.line),
                ("col", p.span.column),
                ("endLine", p.span.end_line),
                ("endColumn", p.span.end_column),
                ("title", f"{p.code} [{p.name}]"),
            )
        )
        lines.append(f"::{_GITHUB_LEVELS[p.severity]} {properties}::{_escape_data(p.message)}")
    return "".join(line + "\n" for line in lines)


def render_gitlab(report: Report) -> str:
    """GitLab Code Quality report (a JSON list of issues)."""
    issues = []
    for result in report.results:
        path = display_path(result.path)
        prints = fingerprints(result.problems, result.text.split("\n"))
        for p, print_ in zip(result.problems, prints):
            fingerprint = hashlib.md5(f"{path}\0{p.code}\0{print_}".encode(), usedforsecurity=False)
            issues.append(
                {
                    "type": "issue",
                    "check_name": p.code,
                    "description": f"{p.code} [{p.name}] {p.message}",
                    "categories": ["Style" if p.severity == "style" else "Bug Risk"],
                    "severity": _GITLAB_LEVELS[p.severity],
                    "fingerprint": fingerprint.hexdigest(),
                    "location": {
                        "path": path,
                        "lines": {"begin": p.span.line, "end": p.span.end_line},
                    },
                }
            )
    return json.dumps(issues, indent=2) + "\n"
