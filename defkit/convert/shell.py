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
from itertools import accumulate
from typing import Optional

from defkit.gotext import GO_SPACE
from defkit.shell_scan import scan

# Characters that never need quoting in a POSIX shell word.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")
# Apptainer's placeholder pattern (Go: \w ASCII, \s = [\t\n\f\r ]).
PLACEHOLDER = re.compile(r"\{\{[\t\n\f\r ]*(\w+)[\t\n\f\r ]*\}\}", re.ASCII)
# A line that would change the structure of a .def if written into a script body, from its
# start: a `%section` after Go's unicode.IsSpace (which Apptainer trims before it looks for one:
# U+2003 EM SPACE before `%post` starts a section too), or `Bootstrap:` in any case, which starts
# a stage. Texts are searched for one after a "\n" (a literal first character lets the regex
# engine skip to line starts) and matched at 0.
_UNSAFE_START = (
    r"(?:[" + re.escape("".join(sorted(GO_SPACE - {"\n"}))) + r"]*%|(?i:bootstrap:))"
)
_UNSAFE_FIRST_LINE = re.compile(_UNSAFE_START)
_UNSAFE_LATER_LINE = re.compile("\n" + _UNSAFE_START)


def quote(word: str) -> str:
    """One shell word for `word`, single-quoted unless it is plainly safe; never contains `{{`."""
    if word and _SAFE_WORD.match(word) and not word.startswith(("%", "=")):
        return word
    return break_placeholders("'" + word.replace("'", "'\\''") + "'")


def quote_argv(argv: Iterable[str]) -> str:
    return " ".join(quote(arg) for arg in argv)


def double_quote(text: str) -> str:
    """`text` inside double quotes, with `$`, backquote, `"` and backslash made literal."""
    return f'"{escape_double_quoted(text)}"'


def escape_double_quoted(text: str) -> str:
    """A backslash before each `\\`, `"`, `$` and backquote: literal text for inside "..."
    (backslashes first, so that no added backslash is escaped again)."""
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
            .replace("`", "\\`"))


def text_is_unsafe(text: str) -> bool:
    """True when verbatim `text` cannot go into a .def script body as is."""
    return PLACEHOLDER.search(text) is not None or has_unsafe_line(text)


def has_unsafe_line(text: str) -> bool:
    """True when some line of `text` starts a section or a stage (`_UNSAFE_START`)."""
    return bool(_UNSAFE_FIRST_LINE.match(text) or _UNSAFE_LATER_LINE.search(text))


def break_placeholders(quoted: str) -> str:
    """Split every `{{` in a single-quoted shell word so templating cannot see it.

    `'{{ X }}'` becomes `'{''{ X }}'`: the shell joins the two quoted parts back together.
    """
    return quoted.replace("{{", "{''{")


def defuse_placeholders(text: str) -> str:
    """`text` with a space between the braces of each `{{ NAME }}` in it: Apptainer would take
    it for a build argument, and %labels, %help and %files have no quoting to hide it in."""
    return PLACEHOLDER.sub(lambda match: "{ " + match.group()[1:], text)


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


_STARTS_UNSAFE_STRETCH = re.compile(r"['\\#]")


def split_points_safe(text: str, points: list[int]) -> bool:
    """True when a backslash-newline can be inserted before each index of `points` in shell text
    without changing its meaning: not inside single quotes (`$'...'` too), a comment or a
    backslash escape. (Double quotes are fine: sh removes a backslash-newline there too.)"""
    if not points or _STARTS_UNSAFE_STRETCH.search(text, 0, points[-1]) is None:
        return True  # (what makes a break unsafe starts with one of these, before a point)
    found = scan(text)
    for kind, start, end in found.quoted:
        if kind == "comment":
            # A break in a comment, or just before the newline that ends it, is commented out.
            unsafe_from, unsafe_to = start + 1, end + 1
        elif kind in ("single", "ansi", "escape"):
            unsafe_from, unsafe_to = start + 1, end  # strictly inside
        else:
            continue
        at = bisect.bisect_left(points, unsafe_from)
        if at < len(points) and points[at] < unsafe_to:
            return False
    return True


def wrap_lines(lines: list[str]) -> Optional[str]:
    """The shell text `"".join(lines)` written as its `lines` joined by backslash-newlines, or
    None when that could change its meaning (`split_points_safe` at the lines' starts) or a line
    would be unsafe in a .def (`has_unsafe_line`)."""
    text = "".join(lines)
    if not split_points_safe(text, list(accumulate(map(len, lines[:-1])))):
        return None
    wrapped = "\\\n".join(lines)
    return None if has_unsafe_line(wrapped) else wrapped
