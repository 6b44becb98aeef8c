"""Shell quoting for generated scripts, and the checks that keep generated lines safe in a .def.

Two hazards are specific to .def bodies: a line whose first word starts with `%` starts a new
section, and a line starting with `bootstrap:` at column 0 starts a new stage (deffile.md §2, §6).
A third is templating: `{{ NAME }}` anywhere in a stage is replaced at build time, and an
undefined NAME is fatal (deffile.md §7), so literal text must never contain that pattern.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

# Characters that never need quoting in a POSIX shell word.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")
# Apptainer's placeholder pattern (Go: \w ASCII, \s = [\t\n\f\r ]).
PLACEHOLDER = re.compile(r"\{\{[\t\n\f\r ]*(\w+)[\t\n\f\r ]*\}\}", re.ASCII)
_STAGE_SPLIT = re.compile(r"bootstrap:", re.IGNORECASE)
_GO_SPACE = " \t\n\v\f\r\x85\xa0"
# Some line of a text for which line_is_unsafe is true.
_UNSAFE_LINE = re.compile(
    r"^(?:[ \t\v\f\r\x85\xa0]*%|(?i:bootstrap:))", re.MULTILINE
)


def quote(word: str) -> str:
    """One shell word for `word`, single-quoted unless it is plainly safe; never contains `{{`."""
    if word and _SAFE_WORD.match(word) and not word.startswith(("%", "=")):
        return word
    return break_placeholders("'" + word.replace("'", "'\\''") + "'")


def quote_argv(argv: Iterable[str]) -> str:
    return " ".join(quote(arg) for arg in argv)


_DOUBLE_SPECIAL = re.compile(r'([\\"$`])')


def double_quote(text: str) -> str:
    """`text` inside double quotes, with `$`, backquote, `"` and backslash made literal."""
    escaped = _DOUBLE_SPECIAL.sub(r"\\\1", text)
    return f'"{escaped}"'


def line_is_unsafe(line: str) -> bool:
    """True when `line` would change the structure of a .def if written into a script body."""
    stripped = line.lstrip(_GO_SPACE)
    if stripped.startswith("%"):
        return True
    return bool(_STAGE_SPLIT.match(line))


def text_is_unsafe(text: str) -> bool:
    """True when verbatim `text` cannot go into a .def script body as is."""
    return bool(PLACEHOLDER.search(text) or _UNSAFE_LINE.search(text))


def break_placeholders(quoted: str) -> str:
    """Split every `{{` in a single-quoted shell word so templating cannot see it.

    `'{{ X }}'` becomes `'{''{ X }}'`: the shell joins the two quoted parts back together.
    """
    return quoted.replace("{{", "{''{")


def printf_lines(text: str) -> list[str]:
    """Shell lines that print `text` (with a final newline), safe in any .def body.

    Used when `text` has lines that would break the .def (see `text_is_unsafe`): every line of
    the output starts with whitespace and a quote, and `{{` never appears."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    out = ["printf '%s\\n' \\"]
    for index, line in enumerate(lines):
        word = break_placeholders("'" + line.replace("'", "'\\''") + "'")
        out.append(f"  {word}" + (" \\" if index < len(lines) - 1 else ""))
    return out


def heredoc_marker(text: str, base: str = "DEFKIT_EOF") -> str:
    """A here-document delimiter that does not occur as a line of `text`."""
    lines = set(text.split("\n"))
    marker = base
    number = 1
    while marker in lines:
        number += 1
        marker = f"{base}_{number}"
    return marker


_SHELL_SPECIAL = re.compile(r"['\"\\#]")


def split_points_safe(text: str, points: list[int]) -> bool:
    """True when a backslash-newline can be inserted before each index of `points` in shell text
    without changing its meaning: not inside single quotes, a comment or a backslash escape."""
    unsafe: list[tuple[int, int]] = []  # [start, end) ranges where a break would change meaning
    position = 0
    double = False
    while True:
        match = _SHELL_SPECIAL.search(text, position)
        if match is None:
            break
        index = match.start()
        char = text[index]
        if char == "\\":
            unsafe.append((index + 1, index + 2))
            position = index + 2
        elif char == '"':
            double = not double
            position = index + 1
        elif double:
            position = index + 1
        elif char == "'":
            end = text.find("'", index + 1)
            end = len(text) if end < 0 else end
            unsafe.append((index + 1, end + 1))
            position = end + 1
        else:  # "#": a comment only at the start of a word
            if index == 0 or text[index - 1] in " \t;&|()":
                end = text.find("\n", index)
                end = len(text) if end < 0 else end
                unsafe.append((index + 1, end + 1))
                position = end
            else:
                position = index + 1
    # The ranges are sorted and do not overlap: only the last one starting at or before a point
    # can hold it.
    starts = [start for start, _end in unsafe]
    for point in points:
        index = bisect.bisect_right(starts, point) - 1
        if index >= 0 and point < unsafe[index][1]:
            return False
    return True
