"""BuildKit's own parser tests (moby/buildkit frontend/dockerfile/parser, read in place)."""

from __future__ import annotations

import pathlib

import pytest

from defkit.dockerfile.dump import dump
from defkit.dockerfile.errors import DockerfileParseError
from defkit.dockerfile.parser import parse_file
from tests.shared import CONFORMANCE

BUILDKIT = CONFORMANCE / "buildkit-parser"


def _cases(kind: str) -> list[pathlib.Path]:
    folder = BUILDKIT / kind
    return sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []


@pytest.mark.parametrize("case", _cases("testfiles"), ids=lambda path: path.name)
def test_parse_result_matches_buildkit_dump(case: pathlib.Path) -> None:
    parsed = parse_file(case / "Dockerfile", strict=False)
    assert dump(parsed) == (case / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", _cases("testfiles-negative"), ids=lambda path: path.name)
def test_buildkit_negative_cases_are_rejected(case: pathlib.Path) -> None:
    with pytest.raises(DockerfileParseError) as raised:
        parse_file(case / "Dockerfile", strict=False)
    assert raised.value.format().startswith(f"{case / 'Dockerfile'}:")


def test_instruction_lines_match_buildkit() -> None:
    parsed = parse_file(BUILDKIT / "testfile-line" / "Dockerfile")
    assert [(i.span.line, i.span.end_line) for i in parsed.instructions] == [
        (5, 5),
        (11, 12),
        (17, 31),
    ]


def test_conformance_data_is_present() -> None:
    assert len(_cases("testfiles")) == 33
    assert len(_cases("testfiles-negative")) == 4
