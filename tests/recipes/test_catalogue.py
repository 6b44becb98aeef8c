"""The built-in catalogue: every family's every point renders, parses and lints clean (nothing
at warning or above), carries %help, %labels, %test and %runscript, and two families match
their golden files (regenerate with DEFKIT_UPDATE_GOLDEN=1 after a deliberate change)."""

from __future__ import annotations

import os
import pathlib

import pytest

from defkit.catalogue.family import all_families, load_family
from defkit.catalogue.render import Rendered, render_all
from defkit.lint.config import LintConfig
from defkit.lint.linter import Source, lint_sources
from defkit.lint.problem import SEVERITIES
from defkit.parser import parse_text

GOLDEN = pathlib.Path(__file__).parent / "golden"
FAMILIES = ["hello", "debian-minimal", "python", "pytorch-cuda", "tensorflow-gpu", "r-base",
            "openmpi", "mpich", "jupyter"]
REQUIRED_SECTIONS = ("help", "labels", "test", "runscript")


def test_the_catalogue_has_the_families_the_issue_names() -> None:
    names = [family.name for family in all_families()]
    assert sorted(names) == sorted(FAMILIES)
    for family in all_families():
        assert family.description and len(family.points) >= 2, family.name


def _rendered() -> list[Rendered]:
    return [item for name in FAMILIES for item in render_all(load_family(name))]


def test_every_point_parses_and_has_the_sections_a_catalogue_image_needs() -> None:
    rendered = _rendered()
    assert len(rendered) >= 25
    for item in rendered:
        deffile = parse_text(item.text, item.filename)
        (stage,) = deffile.stages
        for name in REQUIRED_SECTIONS:
            assert stage.sections_named(name), f"{item.filename}: no %{name}"
        labels = stage.sections_named("labels")[0].body
        for value in item.point.values():
            if isinstance(value, str) and value[:1].isdigit():
                # A version the point is about is recorded in a label.
                assert value in labels or any(
                    value.startswith(v) for v in labels.split()), (item.filename, value)
        assert item.text.startswith(f"# Rendered by `defkit recipes render {item.family}` from "
                                    f"{item.template}")


def test_every_point_lints_with_nothing_at_warning_or_above() -> None:
    rendered = _rendered()
    config = LintConfig()
    results = lint_sources([Source(item.filename, item.text, config) for item in rendered])
    serious = [f"{p.path}:{p.span.line}: {p.code} {p.message}"
               for result in results for p in result.problems
               if SEVERITIES.index(p.severity) >= SEVERITIES.index("warning")]
    assert serious == []
    assert not any(result.parse_errors for result in results)


@pytest.mark.parametrize("family", ["hello", "openmpi"])
def test_golden(family: str) -> None:
    directory = GOLDEN / family
    rendered = {item.filename: item.text for item in render_all(load_family(family))}
    if os.environ.get("DEFKIT_UPDATE_GOLDEN"):
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.def"):
            old.unlink()
        for name, text in rendered.items():
            (directory / name).write_text(text, encoding="utf-8")
    expected = {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.def")}
    assert rendered == expected


def test_locks_exist_only_where_they_could_be_made() -> None:
    """hello (a local rootfs) and debian-minimal (debootstrap) have no registry base: their
    lock, written by `defkit lock`, pins nothing. The registry families have none yet: their
    digests need Docker Hub, which this machine cannot reach."""
    locked = {family.name for family in all_families() if family.lock}
    assert locked == {"hello", "debian-minimal"}
