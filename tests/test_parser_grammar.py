"""The lexer's line tokens, the grammar's tree, Lark's errors, and the parser generated from the
grammar at build time."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from defkit import _generated_parser
from defkit._generated_parser import Token, Tree, UnexpectedToken
from defkit.line_lexer import lex
from defkit.parser import parse_single
from defkit.stage import lark_parser, parse_tree, syntax_error
from tests.shared import REPO


def _tokens(text: str) -> list[tuple[str, str, int, int, int]]:
    return [
        (token.type, token.value, token.start_pos or 0, token.end_pos or 0, token.line or 0)
        for token in lex(text)
    ]


def test_lines_end_at_lf_lose_one_cr_and_a_lone_cr_is_no_line_end() -> None:
    assert _tokens("Bootstrap: docker\r\nFrom: a\rb\n%post\r\r\necho") == [
        ("LINE", "Bootstrap: docker", 0, 19, 1),
        ("LINE", "From: a\rb", 19, 29, 2),
        ("SECTION_LINE", "%post\r", 29, 37, 3),
        ("LINE", "echo", 37, 41, 4),  # the last line needs no line end
    ]
    assert _tokens("") == [] and _tokens("\n") == [("BLANK", "", 0, 1, 1)]


def test_lines_are_typed_by_their_first_go_white_space_separated_word() -> None:
    kinds = [kind for kind, *_ in _tokens("x\n \t\v\n  # c\n  %post\n\u00a0%x\n#%post\n100%\n")]
    assert kinds == ["LINE", "BLANK", "COMMENT", "SECTION_LINE", "SECTION_LINE", "COMMENT", "LINE"]


def test_section_lines_are_typed_by_the_body_apptainer_reads() -> None:
    text = "%Files a\n%appfiles x\n%LABELS\n%applabels y\n%arguments\n%post\n%files\t\n  %files\n"
    assert [kind for kind, *_ in _tokens(text)] == [
        "FILES_SECTION_LINE",
        "FILES_SECTION_LINE",
        "LABELS_SECTION_LINE",
        "LABELS_SECTION_LINE",
        "ARGUMENTS_SECTION_LINE",
        "SECTION_LINE",
        "SECTION_LINE",  # the name is "files\t": cut at a space only
        "SECTION_LINE",  # indented: the name is empty
    ]
    # Apptainer trims a stage's first token, so an indented first section keeps its name.
    assert _tokens("  %files\n")[0][0] == "FILES_SECTION_LINE"


def test_the_tree_is_the_stage_structure() -> None:
    tree = parse_tree(
        "Bootstrap: docker\n\n%files\nsrc dst\n# c\n%labels\nA b\n%arguments\nX=1\n\n%post\necho\n"
    )
    assert [child.data for child in tree.children if isinstance(child, Tree)] == [
        "header",
        "files_section",
        "labels_section",
        "arguments_section",
        "plain_section",
    ]
    files = tree.children[1]
    assert isinstance(files, Tree)
    assert [getattr(child, "data", getattr(child, "type", None)) for child in files.children] == [
        "FILES_SECTION_LINE",
        "file_entry",
        "COMMENT",
    ]
    assert (files.meta.line, files.meta.end_line, files.meta.end_column) == (3, 5, 4)


def test_blank_lines_and_comments_before_a_section_belong_to_the_one_above() -> None:
    stage = parse_single("Bootstrap: docker\n%post\necho\n\n# next\n%runscript\nrun\n")
    assert stage.sections[0].body == "echo\n\n# next\n"
    assert stage.sections[0].span.end_line == 5


def test_entries_where_the_grammar_finds_them() -> None:
    stage = parse_single("  %files\n  a  b  \n# c\n\n%arguments\nA=1\nnot a pair\n =x\n  B = 2 \n")
    (files, arguments) = stage.sections
    assert [(entry.source, entry.destination) for entry in files.files] == [("a", "b")]
    assert (files.files[0].span.line, files.files[0].span.column) == (2, 3)
    assert files.body == "  a  b  \n# c"  # the first token is trimmed at its end
    assert [
        (arg.name, arg.value, arg.span.line, arg.span.column) for arg in arguments.arguments
    ] == [
        ("A", "1", 6, 1),
        ("B", "2", 9, 3),
    ]


_ONE_LINE_OF_EACH_KIND = ["x: y", "", "# c", "%post", "%files", "%labels", "%arguments", "  %files"]


@given(st.lists(st.sampled_from(_ONE_LINE_OF_EACH_KIND), max_size=12))
def test_the_grammar_accepts_every_sequence_of_lines(lines: list[str]) -> None:
    # Apptainer rejects a file for what its lines say, never for their order.
    assert parse_tree("\n".join(lines)).data == "start"


def test_a_lark_error_becomes_a_positioned_error() -> None:
    parser = lark_parser().parse_interactive("")
    bogus = Token("SECTION_BODY", "x", 0, 3, 1, 3, 2, 1)
    with pytest.raises(UnexpectedToken) as caught:
        parser.feed_token(bogus)
    error = syntax_error(caught.value, path="x.def", first_line=10)
    assert error.kind == "syntax"
    assert error.format().startswith(
        "x.def:12:1: error: the grammar does not expect a SECTION_BODY"
    )


def test_the_generated_parser_is_the_grammars() -> None:
    grammar = (REPO / "grammar" / "deffile.lark").read_bytes()
    assert hashlib.sha256(grammar).hexdigest() == _generated_parser.GRAMMAR_SHA256, (
        "grammar/deffile.lark changed: regenerate defkit/_generated_parser.py with `make install` "
        "(or `pip install -e .`)"
    )


def test_parsing_does_not_load_lark() -> None:
    # The generated parser holds the part of Lark a parse needs; Lark's grammar compiler is
    # what made every command slow to start.
    code = (
        "import sys; from defkit.parser import parse_text; parse_text('Bootstrap: docker\\n'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'hashlib')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize(
    ("module", "not_imported"),
    [
        ("defkit.stage", "defkit.parser"),
        ("defkit.line_lexer", "defkit.stage"),
        ("defkit.sections", "defkit._generated_parser"),
        ("defkit.header", "defkit._generated_parser"),
    ],
)
def test_parser_modules_import_one_way(module: str, not_imported: str) -> None:
    code = f"import sys, {module}; print({not_imported!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
