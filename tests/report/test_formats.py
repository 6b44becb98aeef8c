"""The other formats: text, json, github workflow commands, GitLab Code Quality, statistics."""

from __future__ import annotations

import json

import pytest

from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.lint.linter import FileResult, Source, lint_sources
from defkit.report import FORMATS, STATISTICS, Report, render
from defkit.report.text import render_statistics

TEXT = "Bootstrap: docker\nFrom: alpine\n%lables\n\ta b\n%post\n\techo $1, 100%\n"


@pytest.fixture(scope="module")
def results() -> list[FileResult]:
    # ShellCheck at every level, so that its info findings (SC2086) are in the report too.
    config = LintConfig(select=("DK0", "SC"), shellcheck=ShellcheckOptions(severity="style"))
    return lint_sources(
        [
            Source("dir/Singularity", TEXT, config),
            Source("clean.def", "Bootstrap: docker\n", config),
        ]
    )


def test_text(results: list[FileResult]) -> None:
    out = render("text", Report(results)).splitlines()
    assert (
        out[0]
        == "dir/Singularity:3:2: DK002 [unknown-section] unknown section %lables; did you mean %labels?"
    )
    assert out[1:4] == ["    3 | %lables", "      |  ^^^^^^", "      = fix: rename to %labels"]
    sc_line = out.index(
        "dir/Singularity:6:7: SC2086 [shellcheck] Double quote to prevent globbing and word splitting."
    )
    assert out[sc_line + 2] == "      | \t     ^^"  # the tab is kept so the caret lines up
    assert not out[sc_line + 3].startswith("      = fix")  # ShellCheck findings have no fix
    assert out[-1] == "Found 2 problems (1 error, 1 info) in 2 files. 1 fixable with --fix."
    plain = render("text", Report(results, show_source=False)).splitlines()
    assert len(plain) == 3


def test_json(results: list[FileResult]) -> None:
    findings = json.loads(render("json", Report(results)))
    assert findings[0] == {
        "path": "dir/Singularity",
        "line": 3,
        "column": 2,
        "end_line": 3,
        "end_column": 8,
        "code": "DK002",
        "name": "unknown-section",
        "severity": "error",
        "message": "unknown section %lables; did you mean %labels?",
        "fixable": True,
    }
    assert json.loads(render("json", Report([]))) == []


def test_github(results: list[FileResult]) -> None:
    lines = render("github", Report(results)).splitlines()
    assert lines[0] == (
        "::error file=dir/Singularity,line=3,col=2,endLine=3,endColumn=8,"
        "title=DK002 [unknown-section]::unknown section %25lables; did you mean %25labels?"
    )
    assert lines[1].startswith("::notice file=dir/Singularity,line=6,col=7,")


def test_gitlab(results: list[FileResult]) -> None:
    issues = json.loads(render("gitlab", Report(results)))
    assert [issue["check_name"] for issue in issues] == ["DK002", "SC2086"]
    assert issues[0]["severity"] == "critical" and issues[1]["severity"] == "minor"
    assert issues[0]["location"] == {"path": "dir/Singularity", "lines": {"begin": 3, "end": 3}}
    assert len({issue["fingerprint"] for issue in issues}) == 2


def test_statistics(results: list[FileResult]) -> None:
    rows = json.loads(STATISTICS["json"](Report(results)))
    assert rows[0] == {"code": "DK002", "name": "unknown-section", "count": 1, "fixable": True}
    lines = render_statistics(Report(results)).splitlines()
    assert lines[:2] == ["     1  DK002   unknown-section  [*]", "     1  SC2086  shellcheck"]


def test_every_format_handles_no_results() -> None:
    empty = {name: formatter(Report([])) for name, formatter in FORMATS.items()}
    assert empty["text"] == "No problems found in 0 files.\n"
    assert empty["github"] == ""
    assert json.loads(empty["json"]) == json.loads(empty["gitlab"]) == []
    assert json.loads(empty["sarif"])["runs"][0]["results"] == []


def test_secrets_are_masked_wherever_a_source_line_is_shown() -> None:
    from defkit.lint.problem import Problem
    from defkit.model import Span

    token = "ghp_" + "a" * 36
    text = f"Bootstrap: docker\n%post\n    curl -H 'Authorization: Bearer {token}' $URL\n"
    secret = Problem(
        Span(3, 36, 3, 76),
        "a GitHub token is written",
        code="DK409",
        name="secret-in-definition",
        severity="error",
        path="s.def",
    )
    other = Problem(
        Span(3, 78, 3, 82),
        "unquoted",
        code="SC2086",
        name="shellcheck",
        severity="info",
        path="s.def",
    )
    result = FileResult("s.def", text, (secret, other))
    assert text.split("\n")[2][35:75] == token  # the span covers exactly the token
    for name, formatter in FORMATS.items():
        assert token not in formatter(Report([result])), name
    shown = render("text", Report([result])).splitlines()
    assert shown[1] == "    3 |     curl -H 'Authorization: Bearer " + "*" * 40 + "' $URL"
    assert shown[4] == shown[1]  # the other finding on that line shows it masked too
