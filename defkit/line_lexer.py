"""A Lark lexer that hands the grammar whole lines, classified by Apptainer's scanner rules."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.lexer import Lexer

from defkit.gotext import trim_space
from defkit.scanner import Line, split_lines


@functools.lru_cache(maxsize=8)
def scan(text: str) -> tuple[Line, ...]:
    """The stage's lines numbered from 1; shared by the lexer and the stage builder."""
    return tuple(split_lines(text, 1))


def _kind(line: Line, in_header: bool) -> str:
    if line.starts_section:
        return "SECTION_LINE"
    if not in_header:
        return "BODY_LINE"
    text = trim_space(line.text)
    return "HEADER_GAP" if text == "" or text.startswith("#") else "HEADER_LINE"


class LineLexer(Lexer):
    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, data: str) -> Iterator[Token]:  # type: ignore[override]
        in_header = True
        for line in scan(data):
            in_header = in_header and not line.starts_section
            yield Token(_kind(line, in_header), line.text, line=line.number, column=1)
