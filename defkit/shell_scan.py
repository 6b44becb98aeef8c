"""Where trailing white space in a shell script is safe to remove.

A light scan of quoting and heredocs, line by line: white space at the end of a line inside a
quoted string, inside a heredoc body, or after a backslash is part of what the shell reads, so it
must stay. Written by hand because no maintained Python shell parser keeps line positions; when
the scan ends unbalanced (a construct it does not understand), nothing is declared safe.
"""

from __future__ import annotations

import re

_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z0-9_.-]+)\2")


def strippable_lines(body: str) -> set[int]:
    """Indexes (0-based) of the lines of `body` whose trailing white space no shell sees."""
    scan = _scan(body)
    return set() if scan is None else scan[1]


def code_lines(body: str) -> set[int] | None:
    """Indexes (0-based) of the lines of `body` that start a new line of shell code: outside
    quotes and heredoc bodies, and not continuing a line that ends in a backslash. Their
    leading white space is not part of any word. None when the scan ends unbalanced."""
    scan = _scan(body)
    return None if scan is None else scan[0]


def _scan(body: str) -> tuple[set[int], set[int]] | None:
    """(code lines, strippable lines) of `body`, or None when it does not scan balanced."""
    lines = body.split("\n")
    code: set[int] = set()
    safe: set[int] = set()
    quote = ""  # "'", '"' or ""
    continued = False  # the previous line ended in an unquoted backslash
    heredocs: list[tuple[str, bool]] = []  # delimiters waiting for their bodies
    in_heredoc: tuple[str, bool] | None = None
    for index, line in enumerate(lines):
        if in_heredoc is not None:
            delimiter, strip_tabs = in_heredoc
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                in_heredoc = heredocs.pop(0) if heredocs else None
            continue
        if quote == "" and not continued:
            code.add(index)
        quote, pending = _scan_line(line, quote)
        heredocs.extend(pending)
        continued = quote == "" and _ends_with_backslash(line)
        if quote == "" and not _ends_with_escaped_space(line):
            safe.add(index)
        if heredocs and quote == "":
            in_heredoc = heredocs.pop(0)
    if quote or in_heredoc is not None or heredocs:
        return None
    return code, safe


def _ends_with_backslash(line: str) -> bool:
    """Whether `line` ends in an odd run of backslashes, so the next line continues it (erring on
    the safe side: a backslash that ends a comment continues nothing, yet is counted)."""
    backslashes = len(line) - len(line.rstrip("\\"))
    return backslashes % 2 == 1


def _ends_with_escaped_space(line: str) -> bool:
    stripped = line.rstrip(" \t")
    if stripped == line:
        return False
    backslashes = len(stripped) - len(stripped.rstrip("\\"))
    return backslashes % 2 == 1


def _scan_line(line: str, quote: str) -> tuple[str, list[tuple[str, bool]]]:
    """The quote state at the end of `line`, and heredoc delimiters it opens."""
    heredocs: list[tuple[str, bool]] = []
    index = 0
    length = len(line)
    while index < length:
        char = line[index]
        if quote == "'":
            if char == "'":
                quote = ""
        elif quote == '"':
            if char == "\\":
                index += 1
            elif char == '"':
                quote = ""
        elif char == "\\":
            index += 1
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t;|&("):
            break  # a comment runs to the end of the line
        elif char == "<" and line.startswith("<<", index) and not line.startswith("<<<", index):
            match = _HEREDOC.match(line, index)
            if match:
                heredocs.append((match.group(3), match.group(1) == "-"))
                index = match.end()
                continue
        index += 1
    return quote, heredocs
