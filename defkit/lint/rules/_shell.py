"""Shell helpers shared by rules: the simple commands of a script section, with file positions.

The scanning is `defkit.shell_scan`'s (the one shell scanner of defkit); this module places its
words in the .def file, so rules can point at the exact column, and knows what rules ask of a
command: its program name past `sudo`/`env` and assignments, its options and operands. Heredoc
bodies are skipped: they are data, not commands.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from defkit.lint.rules._common import section_args
from defkit.model import DefFile, Section, Span, Stage
from defkit.shell_scan import (
    HEREDOC,
    Heredoc,
    Scan,
    Token,
    scan,
    simple_commands,
    single_quoted,
    word_value,
)
from defkit.shell_scan import unquoted_parts as unquoted_parts

#: Words that can start a command without being its name.
_KEYWORDS = frozenset({"if", "then", "else", "elif", "while", "until", "do", "!", "{", "}", "time"})
#: Programs that run the command given after their own options.
_WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "exec", "command", "time", "stdbuf"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")


class Word:
    """One shell word; its file span is worked out only when a rule asks for it."""

    __slots__ = ("text", "value", "_start", "_end", "_positions", "_span", "_newlines")

    def __init__(self, text: str, value: str, start: int, end: int, positions: _Positions) -> None:
        self.text = text  # as written, quotes kept
        self.value = value  # quotes and backslashes removed (expansions kept)
        self._start = start
        self._end = end
        self._positions = positions
        self._span: Optional[Span] = None
        self._newlines: Optional[list[int]] = None

    @property
    def span(self) -> Span:
        if self._span is None:
            self._span = self._positions.span(self._start, self._end)
        return self._span

    def part_span(self, start: int, end: int) -> Span:
        """The file span of `self.text[start:end]`."""
        line, column = self._part_position(start)
        end_line, end_column = self._part_position(end)
        return Span(line, column, end_line, end_column)

    def _part_position(self, offset: int) -> tuple[int, int]:
        if self._newlines is None:  # found once per word, however many parts are asked for
            self._newlines = [match.start() for match in _NEWLINE.finditer(self.text)]
        row = bisect.bisect_left(self._newlines, offset)
        if not row:
            return self.span.line, self.span.column + offset
        return self.span.line + row, offset - self._newlines[row - 1]

    def __repr__(self) -> str:
        return f"Word({self.text!r})"


@dataclass(frozen=True)
class Command:
    """One simple command: its words (redirections apart) and the operators around it."""

    words: tuple[Word, ...]
    redirects: tuple[tuple[str, Optional[Word]], ...]
    before: str  # operator before it ("" at the start of a line or script)
    after: str  # operator after it ("\n" at a line end, "" at the script end)
    section: Section
    heredocs: tuple[Heredoc, ...] = ()  # those its `<<`/`<<-` open (offsets in the body)

    @property
    def head(self) -> Optional[Word]:
        """The first word that is not a keyword or an assignment (a wrapper such as `sudo`)."""
        for word in self.words:
            if word.value not in _KEYWORDS and not _ASSIGNMENT.match(word.text):
                return word
        return None

    # Cached: rules ask every command for its argv and name many times over.
    # (cached_property stores in the instance __dict__, which a frozen dataclass allows.)
    @functools.cached_property
    def argv(self) -> tuple[Word, ...]:
        """The words from the program name on: assignments, keywords and wrappers skipped."""
        words = list(self.words)
        while words:
            first = words[0].value
            if first in _KEYWORDS or _ASSIGNMENT.match(words[0].text):
                words.pop(0)
            elif first in _WRAPPERS and len(words) > 1:
                words.pop(0)
                while len(words) > 1 and (
                    words[0].value.startswith("-") or _ASSIGNMENT.match(words[0].text)
                ):
                    option = words.pop(0).value
                    if option in ("-u", "-g", "-n") and len(words) > 1:
                        words.pop(0)  # the option's argument (sudo -u user, nice -n 5)
            else:
                break
        return tuple(words)

    @functools.cached_property
    def name(self) -> str:
        """The program's base name ("apt-get" for `/usr/bin/apt-get`), "" when there is none."""
        argv = self.argv
        return argv[0].value.rsplit("/", 1)[-1] if argv else ""


_NEWLINE = re.compile("\n")


class _Positions:
    """Maps an index in a section body to its (line, column) in the file."""

    def __init__(self, section: Section) -> None:
        self._newlines = [match.start() for match in _NEWLINE.finditer(section.body)]
        self._line = section.body_line
        self._offset = section.body_column_offset

    def at(self, index: int) -> tuple[int, int]:
        row = bisect.bisect_left(self._newlines, index)
        line_start = self._newlines[row - 1] + 1 if row else 0
        column = index - line_start + 1 + (self._offset if row == 0 else 0)
        return self._line + row, column

    def span(self, start: int, end: int) -> Span:
        line, column = self.at(start)
        end_line, end_column = self.at(end)
        return Span(line, column, end_line, end_column)


def body_lines(section: Section) -> Iterator[tuple[int, int, str]]:
    """Each body line as (file line, file column of its first character, text)."""
    column = 1 + section.body_column_offset
    for number, text in enumerate(section.body.split("\n")):
        yield section.body_line + number, column, text
        column = 1


def _scan(section: Section) -> Scan:
    # (.def bodies: `{{ NAME }}` is one piece of a word; an indented delimiter ends a heredoc.)
    return scan(section.body, placeholders=True, indented_delimiters=True)


def commands(section: Section) -> tuple[Command, ...]:
    """The simple commands of a script section, in order."""
    body = section.body
    positions = _Positions(section)

    def word(token: Token) -> Word:
        _, start, end, parts = token
        text = body[start:end]
        value = word_value(body, start, end, parts) if parts else text
        return Word(text, value, start, end, positions)

    return tuple(
        Command(
            tuple([word(token) for token in found.words]),
            tuple([(operator, word(target)) for operator, target in found.redirects]),
            found.before,
            found.after,
            section,
            found.heredocs,
        )
        for found in simple_commands(body, _scan(section))
    )


def heredoc_lines(section: Section) -> frozenset[int]:
    """File lines that are heredoc bodies (data, not shell code) in a script section, the
    delimiter lines included."""
    if "<<" not in section.body:
        return frozenset()
    positions = _Positions(section)
    lines: set[int] = set()
    for kind, start, end, _ in _scan(section).tokens:
        if kind == HEREDOC and end > start:
            first, _ = positions.at(start)
            last, _ = positions.at(end - 1)
            lines.update(range(first, last + 1))
    return frozenset(lines)


def heredoc_body(command: Command, heredoc: Heredoc) -> list[tuple[int, str]]:
    """(file line, text) of each line of a heredoc's body, its delimiter line apart."""
    if heredoc.end <= heredoc.start:
        return []
    body = command.section.body[heredoc.start : heredoc.end]
    first, _ = _Positions(command.section).at(heredoc.start)
    return [
        (first + number, text.rstrip("\r"))
        for number, text in enumerate(body.removesuffix("\n").split("\n"))
    ]


def script_sections(stage: Stage) -> Iterator[Section]:
    """The sections of a stage whose bodies are shell scripts."""
    return (section for section in stage.sections if section.is_script)


def all_script_sections(deffile: DefFile) -> Iterator[Section]:
    for stage in deffile.stages:
        yield from script_sections(stage)


def shell_of(section: Section) -> str:
    """The shell that runs a script section: "sh", "bash", "dash", ... or "" when not a shell.

    `%pre`, `%setup`, `%post` (and `%appinstall`, appended to `%post`) run under `/bin/sh -e`
    unless their arguments name another shell after `-c`; `%runscript`, `%startscript` and `%test`
    run under their shebang, else `/bin/sh`; `%environment` is sourced by `/bin/sh`.
    """
    if section.name in ("pre", "setup", "post", "test"):
        words = section_args(section).split()
        if "-c" in words:
            rest = words[words.index("-c") + 1 :]
            return _shell_name(rest) if rest else "sh"
        if section.name != "test":
            return "sh"
    if section.name in ("runscript", "startscript", "test"):
        stripped = section.body.lstrip()
        if stripped.startswith("#!"):
            return _shell_name(stripped[2:].split("\n", 1)[0].split())
    return "sh"


def _shell_name(words: list[str]) -> str:
    if not words:
        return "sh"
    name = words[0].rsplit("/", 1)[-1]
    if name == "env" and len(words) > 1:
        name = words[1].rsplit("/", 1)[-1]
    if name == "busybox" and len(words) > 1:
        name = words[1]
    return name if name in ("sh", "bash", "dash", "ash", "ksh", "zsh", "mksh") else ""


def expansions(word: Word) -> Iterator[tuple[str, Span]]:
    """Variables a word expands (`$NAME`, `${NAME...}`), outside single quotes, with spans."""
    text = word.text
    if "$" not in text:
        return
    # The single-quoted stretches are found in one pass over the word, then each `$` is looked
    # up among them: a word of thousands of `$a` is read once, not once per `$`.
    quoted = single_quoted(text) if "'" in text else []
    starts = [start for start, _ in quoted]
    for match in _EXPANSION.finditer(text):
        at = bisect.bisect_right(starts, match.start()) - 1
        if at >= 0 and match.start() < quoted[at][1]:
            continue
        yield match.group(1) or match.group(2), word.part_span(match.start(), match.end())


_EXPANSION = re.compile(r"\$(?:\{#?([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def word_part_span(word: Word, start: int, end: int) -> Span:
    """The file span of `word.text[start:end]`."""
    return word.part_span(start, end)
