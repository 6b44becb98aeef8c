"""The 197 real-world Dockerfiles: all parse, and agree with BuildKit's Go parser where available."""

from __future__ import annotations

import importlib
import pathlib
from typing import Any

import pytest

from defkit.dockerfile.ast import Instruction, OnbuildCommand
from defkit.dockerfile.parser import parse_file
from tests.shared import CORPUS_DOCKERFILES


def _corpus() -> list[pathlib.Path]:
    return sorted(CORPUS_DOCKERFILES.glob("*/*.Dockerfile"))


# BuildKit fixed JSON-form parsing in dockerfile/1.10.0 (moby/buildkit 80518e257, "fix invalid
# usage of json.NewDecoder"): `CMD ["a"] trailing text` is now shell form. The `dockerfile` wheel
# bundles BuildKit v0.12.5, which still decoded the leading array and dropped the rest.
_ORACLE_PREDATES_JSON_FIX = {("devinfra_windows_rbe__Dockerfile.Dockerfile", 165)}


def test_corpus_is_complete() -> None:
    assert len(_corpus()) == 197


def test_every_corpus_dockerfile_parses_strictly() -> None:
    # BuildKit accepts all of them (they are published, building images), so must we.
    for path in _corpus():
        parsed = parse_file(path)
        assert parsed.instructions, path
        assert parsed.stages, path
        for instruction in parsed.instructions:
            assert instruction.command is not None, (path, instruction.span.line)


def _comparable(instruction: Instruction) -> tuple[Any, ...]:
    nested = instruction
    if isinstance(instruction.command, OnbuildCommand):
        nested = instruction.command.instruction
    args = nested.args
    if nested.keyword in ("ENV", "LABEL"):
        args = tuple(arg for index, arg in enumerate(args) if index % 3 != 2)  # wheel drops "="
    return (
        instruction.keyword,
        nested.keyword if nested is not instruction else None,
        nested.json_form,
        instruction.span.line,
        instruction.span.end_line,
        tuple(flag.raw for flag in instruction.flags),
        args,
        tuple((heredoc.name, heredoc.content) for heredoc in instruction.heredocs),
    )


def test_corpus_agrees_with_buildkit_go_parser() -> None:
    try:
        oracle = importlib.import_module("dockerfile")
    except ImportError:
        pytest.skip("PyPI 'dockerfile' (BuildKit's Go parser, x86_64 wheels only) not installed")
    checked = 0
    for path in _corpus():
        theirs = oracle.parse_file(str(path))
        mine = parse_file(path, strict=False).instructions
        assert len(mine) == len(theirs), path
        for ours, reference in zip(mine, theirs):
            if (path.name, ours.span.line) in _ORACLE_PREDATES_JSON_FIX:
                continue
            expected = (
                reference.cmd.upper(),
                reference.sub_cmd.upper() if reference.sub_cmd else None,
                reference.json,
                reference.start_line,
                reference.end_line,
                tuple(reference.flags),
                tuple(reference.value),
                tuple((heredoc.name, heredoc.content) for heredoc in reference.heredocs),
            )
            assert _comparable(ours) == expected, (path.name, ours.span.line)
            checked += 1
    assert checked > 2800
