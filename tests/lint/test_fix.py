"""Fixes: edits applied bottom-up and whole, re-linted, never on a file that does not parse."""

from __future__ import annotations

from defkit.lint.config import LintConfig
from defkit.lint.fix import apply_fixes, fix_text, unified_diff
from defkit.lint.problem import Edit, Fix
from defkit.model import Span
from tests.lint.helpers import dedent


def edit(line: int, column: int, end_line: int, end_column: int, text: str) -> Edit:
    return Edit(Span(line, column, end_line, end_column), text)


def test_edits_apply_from_the_bottom_so_positions_stay_valid() -> None:
    text = "abc\ndef\n"
    fixes = [Fix("a", (edit(1, 1, 1, 2, "XX"),)), Fix("b", (edit(2, 2, 2, 3, ""),))]
    assert apply_fixes(text, fixes) == ("XXbc\ndf\n", 2)


def test_overlapping_fix_is_skipped_whole() -> None:
    text = "abcdef\n"
    first = Fix("first", (edit(1, 1, 1, 4, "X"),))
    overlapping = Fix("second", (edit(1, 3, 1, 5, "Y"), edit(1, 6, 1, 7, "Z")))
    fixed, count = apply_fixes(text, [first, overlapping])
    assert count == 1 and fixed in ("Xdef\n", "abYeZ\n")


def test_shared_fix_counts_once_and_line_deletion_at_end() -> None:
    text = "keep\ndrop\n"
    delete = Fix("drop", (edit(2, 1, 3, 1, ""),))
    assert apply_fixes(text, [delete, delete]) == ("keep\n", 1)


def test_several_fixes_in_one_run() -> None:
    text = dedent("""\
        Bootsrap: docker
        From: alpine:3.20

        %lables
            a b
        %environments
            export A=1
        """)
    outcome = fix_text(text, "x.def", LintConfig())
    assert outcome.applied == 3
    assert "Bootstrap: docker" in outcome.fixed
    assert "%labels\n" in outcome.fixed and "%environment\n" in outcome.fixed
    assert not outcome.refused


def test_file_with_parse_error_is_never_changed() -> None:
    text = dedent("""\
        Bootstrap: docker
        From: alpine:3.20
        stray line

        %lables
            a b
        """)
    outcome = fix_text(text, "x.def", LintConfig())
    assert outcome.fixed == text and outcome.applied == 0
    assert "parse error" in outcome.refused


def test_unknown_section_without_suggestion_blocks_other_fixes() -> None:
    text = "Bootsrap: docker\n%frobnicate\n    x\n"
    outcome = fix_text(text, "x.def", LintConfig())
    assert outcome.fixed == text and outcome.refused


def test_nothing_to_fix_is_not_a_refusal() -> None:
    outcome = fix_text("Bootstrap: docker\nFrom: alpine\n", "x.def", LintConfig())
    assert (outcome.applied, outcome.refused) == (0, "")


def test_crlf_file_keeps_its_line_ends() -> None:
    text = "Bootstrap: docker\r\nFrom: alpine\r\n\r\n%lables\r\n    a b\r\n"
    outcome = fix_text(text, "x.def", LintConfig())
    assert outcome.fixed == text.replace("%lables", "%labels")


def test_unified_diff() -> None:
    diff = unified_diff("x.def", "a\nb\n", "a\nc")
    assert diff.splitlines()[:2] == ["--- a/x.def", "+++ b/x.def"]
    assert "-b" in diff and "+c" in diff and "\\ No newline at end of file" in diff


def test_fixes_over_the_corpus_converge_and_never_break_the_parse() -> None:
    from defkit.lint.linter import lint_text
    from defkit.parser import parse_lenient
    from tests.shared import corpus_def_files

    config = LintConfig()
    changed = 0
    for path in corpus_def_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        outcome = fix_text(text, str(path), config)
        if outcome.fixed == text:
            continue
        changed += 1
        errors_before = len(parse_lenient(text, str(path), flavour="apptainer")[1])
        errors_after = len(parse_lenient(outcome.fixed, str(path), flavour="apptainer")[1])
        assert errors_after <= errors_before, path.name
        assert fix_text(outcome.fixed, str(path), config).fixed == outcome.fixed, path.name
        left = lint_text(outcome.fixed, str(path), config, shellcheck=False).problems
        assert not [p for p in left if p.fix is not None], path.name
    assert changed > 0


def test_fix_keeps_shellcheck_suppressions() -> None:
    # The fix passes run without ShellCheck: its suppressions must not look unused and be removed.
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1  # defkit: ignore=SC2086\n"
    text += "    echo $2  # defkit: ignore=all\n\n%lables\n    a b\n"
    outcome = fix_text(text, "x.def", LintConfig(select=("DK0", "SC")))
    assert outcome.fixed == text.replace("%lables", "%labels")
