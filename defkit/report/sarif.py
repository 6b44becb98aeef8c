"""SARIF 2.1.0 for GitHub code scanning: full rules list, stable fingerprints, GitHub's limits."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Sequence
from typing import Any

from defkit import __version__
from defkit.lint.docs import help_uri, rule_doc
from defkit.lint.problem import Problem
from defkit.report.base import Report, display_path, fingerprints

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/defkit/defkit"
MAX_RESULTS = 25_000  # per run; GitHub rejects more
MAX_TEXT = 1024  # short and full descriptions
_LEVELS = {"error": "error", "warning": "warning", "info": "note", "style": "note"}
#: Rules whose findings are security problems (GitHub shows them as such), with a CVSS-like score.
SECURITY_SEVERITY = {
    "secret-in-definition": "8.0",
    "curl-pipe-shell": "6.5",
    "insecure-download": "5.5",
    "chmod-777": "4.0",
}


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split()) or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rule_descriptor(
    code: str, name: str, severity: str, doc_text: str, summary: str, what: str
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "tags": ["defkit", "shellcheck" if code.startswith("SC") else code[:3].lower()],
        "precision": "high",
        "problem.severity": {"error": "error", "warning": "warning"}.get(
            severity, "recommendation"
        ),
    }
    if name in SECURITY_SEVERITY:
        properties["tags"].append("security")
        properties["security-severity"] = SECURITY_SEVERITY[name]
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": _clip(summary)},
        "fullDescription": {"text": _clip(what or summary)},
        "help": {"text": doc_text or summary, "markdown": doc_text or summary},
        "helpUri": help_uri(code, name),
        "defaultConfiguration": {"level": _LEVELS.get(severity, "warning")},
        "properties": properties,
    }


def _rules(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    from defkit.lint.rules import RULES

    descriptors = []
    for rule in RULES:
        doc = rule_doc(rule)
        what = doc.section("What it does")
        descriptors.append(
            _rule_descriptor(rule.CODE, rule.NAME, rule.SEVERITY, doc.text, doc.summary, what)
        )
    shellcheck: dict[str, Problem] = {}
    for problem in problems:
        if problem.code.startswith("SC") and problem.code not in shellcheck:
            shellcheck[problem.code] = problem
    for code in sorted(shellcheck):
        first = shellcheck[code]
        summary = f"ShellCheck {code}: {first.message}"
        text = f"{summary}\n\nSee {help_uri(code, first.name)}"
        descriptors.append(_rule_descriptor(code, first.name, first.severity, text, summary, ""))
    return descriptors


def _uri(path: str) -> tuple[str, bool]:
    """(uri, relative to %SRCROOT%) for a path, resolved through symlinks."""
    shown = display_path(os.path.realpath(path)) if not path.startswith("<") else path
    if shown.startswith("/"):
        return "file://" + urllib.parse.quote(shown), False
    return urllib.parse.quote(shown), True


def render(report: Report) -> str:
    problems = report.problems
    rules = _rules(problems)
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for result in report.results:
        uri, relative = _uri(result.path)
        prints = fingerprints(result.problems, result.text.split("\n"))
        for problem, print_ in zip(result.problems, prints):
            location: dict[str, Any] = {"uri": uri}
            if relative:
                location["uriBaseId"] = "%SRCROOT%"
            span = problem.span
            end_line = max(span.end_line, span.line)
            end_column = (
                span.end_column if end_line > span.line else max(span.end_column, span.column + 1)
            )
            results.append(
                {
                    "ruleId": problem.code,
                    "ruleIndex": index[problem.code],
                    "level": _LEVELS[problem.severity],
                    "message": {"text": problem.message or problem.code},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": location,
                                "region": {
                                    "startLine": max(1, span.line),
                                    "startColumn": max(1, span.column),
                                    "endLine": max(1, end_line),
                                    "endColumn": max(1, end_column),
                                },
                            }
                        }
                    ],
                    "partialFingerprints": {"primaryLocationLineHash": print_},
                }
            )
    notifications = []
    if len(results) > MAX_RESULTS:
        dropped = len(results) - MAX_RESULTS
        results = results[:MAX_RESULTS]
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{dropped} results left out (GitHub accepts {MAX_RESULTS} per run)"
                },
            }
        )
    root = "file://" + urllib.parse.quote(os.getcwd().replace(os.sep, "/").rstrip("/") + "/")
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "defkit",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": "defkit/"},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": root}},
        "invocations": [
            {
                "executionSuccessful": True,
                "workingDirectory": {"uri": root},
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
