"""Inline suppressions: line and next-line scope, file scope in the header, reasons, unused ones."""

from __future__ import annotations

from tests.lint.helpers import lint, own, positions

TYPO = """\
    Bootstrap: docker
    From: alpine:3.20
    {header}
    %lables{same_line}
        a b
    """


def test_no_directive_reports_the_problem() -> None:
    result = lint(TYPO.format(header="", same_line=""))
    assert positions(result) == [("DK002", 4, 2)]


def test_same_line_by_code_and_by_name() -> None:
    for word in ("DK002", "unknown-section", "dk002", "all"):
        result = lint(TYPO.format(header="", same_line=f"  # defkit: ignore={word}"))
        assert positions(result) == [], word


def test_line_before_with_reason() -> None:
    result = lint(
        TYPO.format(header="# defkit: ignore=unknown-section -- legacy tool", same_line="")
    )
    assert positions(result) == []


def test_two_lines_before_does_not_apply() -> None:
    text = TYPO.format(header="# defkit: ignore=unknown-section\n", same_line="")
    assert positions(lint(text)) == [("DK004", 3, 18), ("DK002", 5, 2)]


def test_stacked_directive_lines_apply_to_the_next_line() -> None:
    text = """\
    Bootstrap: docker
    Frm: alpine:3.20
    # defkit: ignore=DK003
    # defkit: ignore=DK002
    %lables
        a b
    """
    # DK003 on line 2 is above the directives, so that one is unused; DK002 is suppressed.
    assert positions(lint(text)) == [("DK003", 2, 1), ("DK004", 3, 18)]


def test_ignore_file_in_the_header() -> None:
    text = """\
    # defkit: ignore-file=DK002,unknown-header-key -- generated file
    Bootsrap: docker
    From: alpine:3.20

    %lables
        a b
    %environments
        export A=1
    """
    assert positions(lint(text)) == []


def test_ignore_file_below_the_header_is_reported() -> None:
    text = """\
    Bootstrap: docker
    From: alpine:3.20

    %lables
        a b
    # defkit: ignore-file=DK002
    """
    result = lint(text)
    assert ("DK002", 4, 2) in positions(result)
    assert [p.message for p in result.problems if p.code == "DK004"] == [
        "ignore-file must be in the header, before the first section"
    ]


def test_partially_used_directive_reports_only_the_stale_code() -> None:
    result = lint(TYPO.format(header="", same_line="  # defkit: ignore=DK002,DK003"))
    assert positions(result) == [("DK004", 4, 33)]
    assert result.problems[0].message == "unused suppression for DK003"


def test_suppressions_for_disabled_rules_are_not_judged() -> None:
    text = TYPO.format(header="", same_line="  # defkit: ignore=DK002,DK003")
    result = lint(text, own(ignore=("DK003",)))
    assert positions(result) == []


def test_no_inline_ignores_applies_nothing_and_reports_nothing() -> None:
    text = TYPO.format(header="# defkit: ignore=DK002,DK999", same_line="")
    result = lint(text, own(inline_ignores=False))
    assert positions(result) == [("DK002", 4, 2)]


def test_marker_inside_a_word_is_not_a_directive() -> None:
    text = TYPO.format(header="", same_line="") + "    echo x#defkit: ignore=DK002\n"
    assert positions(lint(text)) == [("DK002", 4, 2)]
