"""A Lark lexer that hands the grammar blocks of whole lines, cut by Apptainer's scanner rules."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.lexer import Lexer

from defkit.scanner import Line, blocks, split_lines


@functools.lru_cache(maxsize=8)
def scan(text: str) -> tuple[Line, ...]:
    """The stage's lines numbered from 1; shared by the lexer and the stage builder."""
    return tuple(split_lines(text, 1))


def _block(kind: str, lines: list[Line]) -> Token:
    return Token(
        kind,
        "\n".join(line.text for line in lines),
        line=lines[0].number,
        column=1,
        end_line=lines[-1].number,
    )


class LineLexer(Lexer):
    """HEADER (the lines before the first section), then per section its SECTION_LINE and the
    BODY lines that follow it. One token per block rather than per line: the grammar needs no
    more, and Lark's per-token work is most of a parse."""

    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, data: str) -> Iterator[Token]:  # type: ignore[override]
        for kind, lines in blocks(scan(data)):
            if kind == "header":
                yield _block("HEADER", lines)
                continue
            yield _block("SECTION_LINE", lines[:1])
            if len(lines) > 1:
                yield _block("BODY", lines[1:])
