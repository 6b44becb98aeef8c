"""Apptainer's definition-file scanner, line by line.

Apptainer reads a stage with a `bufio.Scanner` whose split function cuts the text into a header
token and one token per section: a section starts at any line whose first white-space separated
word begins with `%`. The rules that decide this work on bytes and lines (one `\\r` dropped per
line, Go white space, a 64 KiB buffer), which a grammar cannot express, so they live here and the
Lark grammar (`grammar/deffile.lark`) receives whole lines as tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from defkit.gotext import first_word_starts_with_percent

#: bufio.MaxScanTokenSize: a token and the line that ends it must fit in the scanner's buffer.
MAX_TOKEN_SIZE = 64 * 1024


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the whole file
    text: str  # without the line end and without one trailing "\r"
    raw_size: int  # bytes the line takes in the file, line end included
    starts_section: bool


def split_lines(text: str, first_line: int) -> list[Line]:
    """bufio.ScanLines: lines end at "\\n"; one trailing "\\r" is dropped; a last line without
    "\\n" still counts."""
    lines: list[Line] = []
    pieces = text.split("\n")
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if index == last and piece == "":
            break  # the text ended with "\n"
        raw_size = len(piece.encode("utf-8")) + (0 if index == last else 1)
        content = piece[:-1] if piece.endswith("\r") else piece
        lines.append(
            Line(first_line + index, content, raw_size, first_word_starts_with_percent(content))
        )
    return lines


def blocks(lines: Sequence[Line]) -> Iterator[tuple[str, list[Line]]]:
    """The stage's lines in Apptainer's tokens: ("header", the lines before the first section),
    then ("section", a `%name` line and the lines up to the next one) for each section."""
    block: list[Line] = []
    for line in lines:
        if line.starts_section and block:
            yield ("section" if block[0].starts_section else "header"), block
            block = []
        block.append(line)
    if block:
        yield ("section" if block[0].starts_section else "header"), block
