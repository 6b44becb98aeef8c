"""SARIF output: schema-valid (Draft 4) for the whole corpus, with what GitHub needs."""

from __future__ import annotations

import json
import os
import pathlib
from functools import lru_cache
from typing import Any

import jsonschema
import pytest

from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.lint.linter import FileResult, Source, lint_sources
from defkit.lint.rules import RULES
from defkit.report import Report, render
from tests.shared import SHARED, corpus_def_files

SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def sarif(results: list[FileResult]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render("sarif", Report(results)))
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return document


@lru_cache(maxsize=1)
def corpus_results() -> list[FileResult]:
    sources = [
        Source(str(p), p.read_text(encoding="utf-8", errors="replace"), LintConfig())
        for p in corpus_def_files()
    ]
    return lint_sources(sources)


def test_corpus_sarif_is_valid_and_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SHARED)
    results = corpus_results()
    document = sarif(results)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids[: len(RULES)] == [rule.CODE for rule in RULES]  # the full list, not only those found
    assert len(run["results"]) == sum(len(r.problems) for r in results) > 0
    for rule in rules:
        assert rule["shortDescription"]["text"] and len(rule["shortDescription"]["text"]) <= 1024
        assert len(rule["fullDescription"]["text"]) <= 1024 and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
        assert len(rule["properties"]["tags"]) <= 20
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].startswith("corpus/defs/")
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert set(location["region"]) == {"startLine", "startColumn", "endLine", "endColumn"}
    prints = [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["partialFingerprints"]["primaryLocationLineHash"],
        )
        for r in run["results"]
    ]
    assert len(set(prints)) == len(prints)  # unique per file


def test_empty_run_is_valid() -> None:
    document = sarif([])
    assert document["runs"][0]["results"] == []
    assert len(document["runs"][0]["tool"]["driver"]["rules"]) == len(RULES)


def test_levels_and_fingerprints_are_stable_when_lines_move(tmp_path: pathlib.Path) -> None:
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1\n"
    moved = "# a comment\n\n" + text
    config = LintConfig(select=("SC",), shellcheck=ShellcheckOptions(severity="style"))
    first, second = lint_sources([Source("a.def", text, config), Source("a.def", moved, config)])
    one, two = sarif([first])["runs"][0]["results"], sarif([second])["runs"][0]["results"]
    assert one[0]["level"] == "note"  # ShellCheck's info
    assert one[0]["partialFingerprints"] == two[0]["partialFingerprints"]
    assert (
        one[0]["locations"][0]["physicalLocation"]["region"]["startLine"] + 2
        == (two[0]["locations"][0]["physicalLocation"]["region"]["startLine"])
    )


def test_paths_outside_the_working_directory_are_file_uris(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "x" / "Singularity"
    elsewhere.parent.mkdir()
    elsewhere.write_text("Bootstrap: docker\n%lables\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent if os.name != "nt" else tmp_path)
    inner = tmp_path / "inner"
    inner.mkdir()
    monkeypatch.chdir(inner)
    result = lint_sources(
        [Source(str(elsewhere), elsewhere.read_text(), LintConfig(select=("DK002",)))]
    )
    location = sarif(result)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "file://" + str(elsewhere)
    assert "uriBaseId" not in location["artifactLocation"]
