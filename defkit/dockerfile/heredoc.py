"""Here-document markers in RUN/COPY/ADD lines (`<<EOF`, `<<-EOF`, `3<<"EOF"`, several per line).

BuildKit finds them by lexing the whole logical line as shell words (quotes and escapes kept, so a
quoted `"<<EOF"` is not a marker) and matching each word against `^(\\d*)<<(-?)\\s*([^<]*)$`.
The delimiter is the word with quotes removed; a quote anywhere in it turns expansion off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from defkit.dockerfile.errors import ExpansionError
from defkit.dockerfile.expand import LexOptions, process
from defkit.gotext import GO_SPACE

_MARKER = re.compile(r"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$")

_NO_ENV: dict[str, str] = {}
_LINE_WORDS = LexOptions(raw_quotes=True, raw_escapes=True, skip_unset=True)
_UNQUOTED = LexOptions(skip_unset=True)
_QUOTES_KEPT = LexOptions(raw_quotes=True, skip_unset=True)

# What the lexer can treat otherwise than as plain text (in marker names and lines): quotes, the
# escape character (always the backslash here: BuildKit lexes with its default), `$`.
_LEXED = re.compile(r"['\"\\$]")
_SPACES = re.escape("".join(sorted(GO_SPACE)))
# A `${` the lexer keeps as written without an environment: `${NAME}` with an ASCII name.
_BRACED = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")
# One word of `markers_in_line`'s lexing for a line without quotes or backslashes: white space
# splits, except the blanks right after a `<<` (the lexer's possible_heredoc glues them on).
_PLAIN_WORD = re.compile(rf"(?:<<[\t\r ]*|[^<{_SPACES}]+|<)+")


@dataclass(frozen=True)
class Marker:
    name: str
    file_descriptor: int
    expand: bool
    chomp: bool


def _descriptor(digits: str) -> int:
    """Go's `strconv.ParseUint(digits, 10, 0)` as BuildKit uses it (its error ignored): the
    largest uint64 for a number too large (also for one too long for `int()` to read)."""
    if not digits:
        return 0
    significant = digits.lstrip("0") or "0"
    if len(significant) > 20:
        return 2**64 - 1
    return min(int(significant), 2**64 - 1)


def parse_marker(word: str) -> Optional[Marker]:
    """The heredoc a word opens, or None. Raises ExpansionError for an unterminated quote."""
    match = _MARKER.match(word)
    if match is None or not match.group(3):
        return None
    digits, dash, rest = match.groups()
    if _LEXED.search(rest) is None and not any(char in GO_SPACE for char in rest):
        # No quote, backslash, `$`, blank (or `<`: see _MARKER): the lexer takes `rest` as one
        # plain word, unquoted or not, and quote removal changes nothing.
        return Marker(rest, _descriptor(digits), True, dash == "-")
    words = process(rest, _NO_ENV, _UNQUOTED).words
    if len(words) != 1:
        return None
    raw_words = process(rest, _NO_ENV, _QUOTES_KEPT).words
    name = words[0]
    # If quote removal changed the number of quote characters, part of the word was quoted.
    expand = _count_quotes(name) == _count_quotes(raw_words[0])
    return Marker(name, _descriptor(digits), expand, dash == "-")


def markers_in_line(line: str) -> list[Marker]:
    words: Sequence[str]
    if not ("'" in line or '"' in line or "\\" in line) and (
        "${" not in line or _BRACED.search(line) is None
    ):
        # No quotes or escapes, and every `${` is a plain `${NAME}`: the lexer fails on nothing
        # and gives every `$` construct back as written, without blanks (`$NAME`, `$@`, a lone
        # `$`...); its words are then the runs of text between blanks, `<<` glued to what follows.
        words = _PLAIN_WORD.findall(line)
    else:
        try:
            words = process(line, _NO_ENV, _LINE_WORDS).words
        except ExpansionError:
            return []  # BuildKit ignores a line it cannot split: no heredocs then
    markers = []
    for word in words:
        marker = parse_marker(word)
        if marker is not None:
            markers.append(marker)
    return markers


def _count_quotes(text: str) -> int:
    return text.count("'") + text.count('"')


def chomp(content: str) -> str:
    """`<<-`: remove leading tabs from every line."""
    return re.sub(r"(?m)^\t+", "", content)
