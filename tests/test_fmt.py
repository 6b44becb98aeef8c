"""`defkit fmt` over the whole corpus: meaning kept, idempotent, and the layout it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from defkit.errors import DefParseError
from defkit.parser import parse_text
from defkit.writer import format_checked, format_deffile, normalised_json
from tests.shared import corpus_def_files


def _parseable() -> list[Path]:
    found = []
    for path in corpus_def_files():
        try:
            parse_text(path.read_bytes(), str(path))
        except DefParseError:
            continue
        found.append(path)
    return found


@pytest.mark.parametrize("path", _parseable(), ids=lambda p: p.name)
def test_fmt_keeps_meaning_and_is_idempotent(path: Path) -> None:
    original = parse_text(path.read_bytes(), str(path))
    once = format_deffile(original)
    reparsed = parse_text(once, str(path))
    assert normalised_json(reparsed) == normalised_json(original)
    assert format_deffile(reparsed) == once
    assert once.endswith("\n") and not once.endswith("\n\n")


def _fmt(text: str) -> str:
    return format_checked(parse_text(text))


def test_header_keys_get_their_usual_spelling_and_spacing() -> None:
    out = _fmt("bootstrap:docker\nFROM :   alpine:3.19  # pinned\nmirrorurl: http://x\n%post\necho hi\n")
    assert out.splitlines()[:3] == ["Bootstrap: docker", "From: alpine:3.19 # pinned", "MirrorURL: http://x"]


def test_one_blank_line_between_sections_and_no_trailing_blank_lines() -> None:
    out = _fmt("Bootstrap: docker\nFrom: a\n\n\n%post\n    echo hi   \n\n\n\n%runscript\n    exec x\n\n\n")
    assert out == "Bootstrap: docker\nFrom: a\n\n%post\n    echo hi\n\n%runscript\n    exec x\n"


def test_trailing_space_that_a_shell_reads_is_kept() -> None:
    body = (
        "%post\n"
        "    echo 'a   \n"  # inside single quotes
        "    b'\n"
        "    cat <<EOF > /f   \n"
        "    keep   \n"  # heredoc body
        "EOF\n"
        "    echo a \\ \n"  # an escaped space
        "    echo done   \n"
    )
    out = _fmt("Bootstrap: docker\nFrom: a\n" + body)
    assert "    echo 'a   \n" in out
    assert "    keep   \n" in out
    assert "    echo a \\ \n" in out
    assert "    echo done\n" in out
    assert "/f\n" in out  # the heredoc's own line is outside it


def test_labels_and_files_are_aligned() -> None:
    out = _fmt(
        "Bootstrap: docker\nFrom: a\n%labels\nAuthor me\n  Version    1.0\n"
        "%files\n  a.txt /opt/a.txt\n  \"with space.txt\"   /opt\n"
    )
    assert "    Author  me\n    Version 1.0\n" in out
    assert '    a.txt            /opt/a.txt\n    "with space.txt" /opt\n' in out


HEAD = "Bootstrap: docker\nFrom: a\n"
# Files whose layout fmt changes around comments; each must keep its meaning and be stable.
COMMENT_CASES = {
    "header-comment": HEAD + "# install\n%post\n  x\n",
    "section-comment": HEAD + "%post\n  x\n# run it\n# (twice)\n%runscript\n  y\n",
    "stage-comment": HEAD + "%post\n  x\n# the second stage\nBootstrap: docker\nFrom: b\n%post\n  z\n",
    "labels-files-comment": HEAD + "%labels\n  A b\n# files\n%files\n  a /b\n# env\n%environment\n  export A=1\n",
    "comment-only-section": HEAD + "%environment\n#---\n\n#---\n%runscript\n#---\n",
    "unterminated-heredoc": HEAD + "%post\ncat <<EOF\n# data\n%runscript\n  y\n",
    "multiline-string": HEAD + "%post\necho \"a\n# data\"\n%runscript\n  y\n",
    "continued-line": HEAD + "%post\necho a\\\n# more words\n%runscript\n  y\n",
    "help-text": HEAD + "%help\nusage\n# heading\n%runscript\n  y\n",
    "other-interpreter": HEAD + "%runscript\n#!/usr/bin/env node\nconsole.log(1)\n# x\n%test\n  y\n",
    "shebang-only": HEAD + "%runscript\n#!/bin/bash\n%test\n  y\n",
    "indented-comment": HEAD + "%post\n    x\n    # still post\n%runscript\n    y\n",
    "blank-below-comment": HEAD + "%post\n  x\n# post's end\n\n%runscript\n  y\n",
    "app-labels": HEAD + "%applabels a\nA b\n# c\n%apprun a\n  y\n",
    "crlf": HEAD + "%post\r\n  x\r\n# c\r\n%runscript\r\n  y\r\n",
    "eof-comment": HEAD + "%post\n  x\n# the end\n",
    "no-header": "# for post\n%post\n  x\n",
    # Found by fuzzing: comments at the end of the file keep the blank line above them.
    "eof-comments-after-blank": HEAD + "%labels\n \r\n  # ic\n# c\n",
    "eof-continued-comment": HEAD + "%runscript\n \r\n#c\\\n \r\n",
}


@pytest.mark.parametrize("text", COMMENT_CASES.values(), ids=COMMENT_CASES.keys())
def test_comment_cases_keep_meaning_and_are_idempotent(text: str) -> None:
    original = parse_text(text)
    once = format_checked(original)
    reparsed = parse_text(once)
    assert normalised_json(reparsed) == normalised_json(original)
    assert format_deffile(reparsed) == once


def test_a_comment_above_a_section_line_stays_attached_to_it() -> None:
    assert _fmt(COMMENT_CASES["header-comment"]) == HEAD + "\n# install\n%post\n  x\n"
    assert _fmt(COMMENT_CASES["no-header"]) == COMMENT_CASES["no-header"]
    assert _fmt(COMMENT_CASES["section-comment"]) == (
        HEAD + "\n%post\n  x\n\n# run it\n# (twice)\n%runscript\n  y\n"
    )
    assert _fmt(COMMENT_CASES["stage-comment"]) == (
        HEAD + "\n%post\n  x\n\n# the second stage\nBootstrap: docker\nFrom: b\n\n%post\n  z\n"
    )
    out = _fmt(COMMENT_CASES["labels-files-comment"])
    assert "%labels\n  A b\n\n# files\n%files\n  a /b\n\n# env\n%environment\n" in out


def test_comments_that_are_not_the_next_sections_stay_in_the_body() -> None:
    # Data in a heredoc or a string, a continued line, help text, another language's line, an
    # interpreter line, an indented comment, a comment with a blank line below it: not moved.
    kept = {
        "unterminated-heredoc": "cat <<EOF\n# data\n\n%runscript",
        "multiline-string": "echo \"a\n# data\"\n\n%runscript",
        "continued-line": "echo a\\\n# more words\n\n%runscript",
        "help-text": "usage\n# heading\n\n%runscript",
        "other-interpreter": "console.log(1)\n# x\n\n%test",
        "shebang-only": "%runscript\n#!/bin/bash\n\n%test",
        "indented-comment": "    # still post\n\n%runscript",
        "blank-below-comment": "  x\n# post's end\n\n%runscript",
        "app-labels": "A b\n# c\n\n%apprun a",
        "eof-comment": "  x\n# the end\n",
    }
    for name, expected in kept.items():
        assert expected in _fmt(COMMENT_CASES[name]), name


def test_labels_and_files_take_the_indentation_the_scripts_share() -> None:
    shared = _fmt(HEAD + "%post\n  x\n%runscript\n  y\n%labels\nA b\n%files\n\ta /b\n")
    assert "%labels\n  A b\n\n%files\n  a /b\n" in shared
    assert "%post\n  x\n\n%runscript\n  y\n" in shared  # scripts are never re-indented


def test_indentation_is_left_alone_when_the_scripts_disagree() -> None:
    text = HEAD + "%post\n  x\n%runscript\n\ty\n%labels\n   A b\n   Long c\n%files\n a /b\n"
    out = _fmt(text)
    assert "%post\n  x\n\n%runscript\n\ty\n" in out
    assert "%labels\n   A    b\n   Long c\n\n%files\n a /b\n" in out


def test_labels_get_four_spaces_without_scripts_and_none_beside_unindented_ones() -> None:
    assert "%labels\n    A b\n" in _fmt(HEAD + "%labels\nA b\n")
    assert "%post\nx\n\n%labels\nA b\n" in _fmt(HEAD + "%post\nx\n%labels\n  A b\n")
