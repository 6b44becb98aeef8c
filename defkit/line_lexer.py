"""Apptainer's scanner as the grammar's lexer: one token per line of a stage, typed by what the
line is (`defkit.stage` feeds the tokens to Lark's parser).

Apptainer reads a stage with a `bufio.Scanner` working on bytes and lines: a line ends at "\\n"
and loses one trailing "\\r" (a lone "\\r" is no line break), and a line whose first word (after
Go white space) starts with `%` starts a section. These rules decide where every construct of
the grammar (`grammar/deffile.lark`) begins and ends, and they are per line, so they live here.

Each token's value is the line without its line end; `start_pos`/`end_pos` cover the line and
its line end in the stage's text (Apptainer's 64 KiB limit counts those bytes), `line` is the
line number in the stage, and `column`/`end_column` span the line's text.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit._generated_parser import Token
from defkit.gotext import GO_SPACE_CHARS
from defkit.sections import section_name

#: Section lines whose bodies Apptainer reads as entries, by the section's name.
ENTRY_SECTIONS = {
    "files": "FILES_SECTION_LINE",
    "appfiles": "FILES_SECTION_LINE",
    "labels": "LABELS_SECTION_LINE",
    "applabels": "LABELS_SECTION_LINE",
    "arguments": "ARGUMENTS_SECTION_LINE",
}


def line_kind(text: str, *, first: bool) -> str:
    """The terminal for one line; `first` for the stage's first line, whose token Apptainer
    trims, so that an indented first section line still gets its name."""
    word = text.lstrip(GO_SPACE_CHARS)
    if not word:
        return "BLANK"
    if word[0] == "#":
        return "COMMENT"
    if word[0] != "%":
        return "LINE"
    return ENTRY_SECTIONS.get(section_name(word if first else text), "SECTION_LINE")


def lex(data: str) -> Iterator[Token]:
    """The grammar's terminals for a stage's text, one per line (`line_kind`)."""
    pieces = data.split("\n")
    if pieces[-1] == "":
        pieces.pop()  # the text ends with "\n" (or is empty): no last line without one
    start = 0
    for number, piece in enumerate(pieces, start=1):
        end = min(start + len(piece) + 1, len(data))
        text = piece[:-1] if piece.endswith("\r") else piece
        kind = line_kind(text, first=start == 0)
        yield Token(kind, text, start, number, 1, number, len(text) + 1, end)
        start = end
