"""Here-document markers in RUN/COPY/ADD lines (`<<EOF`, `<<-EOF`, `3<<"EOF"`, several per line).

BuildKit finds them by lexing the whole logical line as shell words (quotes and escapes kept, so a
quoted `"<<EOF"` is not a marker) and matching each word against `^(\\d*)<<(-?)\\s*([^<]*)$`.
The delimiter is the word with quotes removed; a quote anywhere in it turns expansion off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from defkit.dockerfile.errors import ExpansionError
from defkit.dockerfile.expand import LexOptions, process

_MARKER = re.compile(r"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$")

_NO_ENV: dict[str, str] = {}
_LINE_WORDS = LexOptions(raw_quotes=True, raw_escapes=True, skip_unset=True)
_UNQUOTED = LexOptions(skip_unset=True)
_QUOTES_KEPT = LexOptions(raw_quotes=True, skip_unset=True)

@dataclass(frozen=True)
class Marker:
    """A here-document a line opens: its delimiter, file descriptor and options."""

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
    words = process(rest, _NO_ENV, _UNQUOTED).words
    if len(words) != 1:
        return None
    raw_words = process(rest, _NO_ENV, _QUOTES_KEPT).words
    name = words[0]
    # If quote removal changed the number of quote characters, part of the word was quoted.
    expand = _count_quotes(name) == _count_quotes(raw_words[0])
    return Marker(name, _descriptor(digits), expand, dash == "-")


def markers_in_line(line: str) -> list[Marker]:
    """The heredocs a RUN/COPY/ADD line opens, in order."""
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
