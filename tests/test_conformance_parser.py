"""The parser against Apptainer's own answers: its parser fixtures and its parse of the corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from defkit.apptainer_json import deffile_to_json, stage_to_json
from defkit.errors import DefParseError
from defkit.parser import parse_single, parse_text
from tests.shared import CONFORMANCE, corpus_def_files

FIXTURES = CONFORMANCE / "apptainer-parser"
REFERENCE = CONFORMANCE / "corpus-reference"

_EMPTY_SCRIPT = {"args": "", "script": ""}


def _normalise(stage: dict[str, Any]) -> dict[str, Any]:
    """Go decodes missing fixture keys to zero values: fill them the same way."""
    stage = json.loads(json.dumps(stage))
    build_scripts = stage.setdefault("buildData", {}).setdefault("buildScripts", {})
    build_scripts.setdefault("arguments", dict(_EMPTY_SCRIPT))
    return stage


def _case_file(case: Path) -> Path:
    """The definition file of a fixture directory (beside its .json and `result` files)."""
    (found,) = [p for p in case.iterdir() if p.suffix != ".json" and p.name != "result"]
    return found


def _good_cases() -> list[Path]:
    cases = sorted((FIXTURES / "testdata_good").iterdir())
    # `multistage` is used by no upstream test and its fullraw values are stale (deffile.md §8).
    return [case for case in cases if case.name != "multistage"]


@pytest.mark.parametrize("case", _good_cases(), ids=lambda p: p.name)
def test_upstream_good_fixture(case: Path) -> None:
    source = _case_file(case)
    data = source.read_bytes()
    expected = json.loads(source.with_name(f"{source.name}.json").read_text())
    assert _normalise(stage_to_json(parse_single(data, str(case)))) == _normalise(expected)


@pytest.mark.parametrize(
    "case", sorted((FIXTURES / "testdata_multi").iterdir()), ids=lambda p: p.name
)
def test_upstream_multi_fixture(case: Path) -> None:
    source = _case_file(case)
    data = source.read_bytes()
    expected = json.loads(source.with_name(f"{source.name}.json").read_text())
    got = deffile_to_json(parse_text(data, str(case)))
    assert [_normalise(s) for s in got] == [_normalise(s) for s in expected]


@pytest.mark.parametrize(
    "case", sorted((FIXTURES / "testdata_bad").iterdir()), ids=lambda p: p.name
)
def test_upstream_bad_fixture_is_rejected_with_a_position(case: Path) -> None:
    with pytest.raises(DefParseError) as caught:
        parse_single(case.read_bytes(), str(case))
    error = caught.value
    assert error.span is not None and error.span.line >= 1 and error.span.column >= 1
    assert error.format().startswith(f"{case}:{error.span.line}:{error.span.column}: error: ")


def _reference(name: str, kind: str) -> Any:
    return json.loads((REFERENCE / f"{name}.{kind}.json").read_text())


def _same_error(got: str, expected: str) -> bool:
    # Go lists invalid sections in map order (random): compare the names as a set.
    prefix = "invalid section(s) specified: "
    if got.startswith(prefix) and expected.startswith(prefix):
        return set(got[len(prefix) :].split(", ")) == set(expected[len(prefix) :].split(", "))
    return got == expected


@pytest.mark.parametrize("path", corpus_def_files(), ids=lambda p: p.name)
def test_corpus_matches_apptainer(path: Path) -> None:
    data = path.read_bytes()
    for kind in ("all", "single"):
        expected = _reference(path.name, kind)
        try:
            if kind == "all":
                got: Any = deffile_to_json(parse_text(data, str(path)))
            else:
                got = stage_to_json(parse_single(data, str(path)))
        except DefParseError as exc:
            assert isinstance(expected, dict) and "error" in expected, exc.format()
            assert _same_error(exc.message, expected["error"]), (exc.message, expected["error"])
            continue
        assert not (isinstance(expected, dict) and "error" in expected), expected
        if kind == "all":
            assert [_normalise(s) for s in got] == [_normalise(s) for s in expected]
        else:
            assert _normalise(got) == _normalise(expected)


def _definition_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.txt")


@pytest.mark.parametrize(
    "path",
    _definition_files(CONFORMANCE / "apptainer-examples")
    + _definition_files(CONFORMANCE / "apptainer-testdefs"),
    ids=lambda p: str(p.relative_to(CONFORMANCE)),
)
def test_upstream_examples_parse(path: Path) -> None:
    if path.parent.name == "self":
        with pytest.raises(DefParseError, match="invalid header keyword found: exclude"):
            parse_text(path.read_bytes(), str(path))
    else:
        assert parse_text(path.read_bytes(), str(path)).stages
