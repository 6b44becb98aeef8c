"""Shell helpers shared by rules: the simple commands of a script section, with file positions.

This is not a full shell parser. It splits a section body into words and operators the way sh
does for the common cases (quotes, `$(...)`, backticks, `{{ X }}` placeholders, comments, line
continuations, heredocs) and keeps where each word sits in the .def file, so rules can point at
the exact column. Heredoc bodies are skipped: they are data, not commands.
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

#: Words that can start a command without being its name.
_KEYWORDS = frozenset({"if", "then", "else", "elif", "while", "until", "do", "!", "{", "}", "time"})
#: Programs that run the command given after their own options.
_WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "exec", "command", "time", "stdbuf"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")


class Word:
    """One shell word; its file span is worked out only when a rule asks for it."""

    __slots__ = ("text", "value", "_start", "_end", "_positions", "_span", "_newlines")

    def __init__(self, text: str, start: int, end: int, positions: _Positions) -> None:
        self.text = text  # as written, quotes kept
        self.value = _unquote(text)  # quotes and backslashes removed (expansions kept)
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


def _skip_quoted(text: str, i: int) -> int:
    """Index just past the quoted string, `$(...)`, backtick or `{{ }}` starting at `i`.

    Nested constructs (`"$(echo `date`)"`) are followed with an explicit stack of the closers
    still awaited, not by recursion: hostile nesting thousands deep costs memory, not the
    interpreter's stack."""
    char = text[i]
    if char == "'":
        end = text.find("'", i + 1)
        return len(text) if end < 0 else end + 1
    if text.startswith("{{", i):
        end = text.find("}}", i + 2)
        return len(text) if end < 0 else end + 2
    if not (char == '"' or char == "`" or text.startswith("$(", i)):
        return i + 1
    n = len(text)
    enclosing: list[tuple[str, int]] = []  # (closer, open parentheses) of the outer constructs
    closer = _CLOSERS[char]
    depth = 1  # for `$(`: parentheses open, its own included
    j = i + (2 if char == "$" else 1)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
        elif closer == ")" and c == "(":
            depth += 1
            j += 1
        elif c == closer:
            depth -= 1
            j += 1
            if depth == 0:
                if not enclosing:
                    return j
                closer, depth = enclosing.pop()
        elif c == "'" and closer != '"':
            end = text.find("'", j + 1)
            if end < 0:
                return n
            j = end + 1
        elif c == '"' or c == "`" or (c == "$" and text.startswith("$(", j)):
            enclosing.append((closer, depth))
            closer = _CLOSERS[c]
            depth = 1
            j += 2 if c == "$" else 1
        else:
            j += 1
    return n


_CLOSERS = {"$": ")", "`": "`", '"': '"'}


def _unquote(text: str) -> str:
    if "'" not in text and '"' not in text and "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char in "'\"":
            end = _skip_quoted(text, i)
            inner = (
                text[i + 1 : end - 1] if end - i >= 2 and text[end - 1] == char else text[i + 1 :]
            )
            out.append(inner)
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


#: What can follow a word boundary: blanks, a line end, a comment, a redirection, an operator.
_BOUNDARY = re.compile(
    r"(?P<blank>(?:[ \t]|\\\n)+)|(?P<nl>\n)|(?P<comment>#[^\n]*)"
    r"|(?P<redir>[0-9]*(?:<<<|<<-|<<|>>|>&|<&|&>>|&>|>\||<>|>|<))"
    r"|(?P<op>&&|\|\||;;|\|&|[|;&()])"
)
#: A run of word characters that need no special handling.
_PLAIN = re.compile(r"[^\s;&|()<>'\"`\\${]+")


def _word_end(body: str, i: int) -> int:
    """Index just past the word starting at `i`."""
    n = len(body)
    while i < n:
        plain = _PLAIN.match(body, i)
        if plain:
            i = plain.end()
            if i >= n:
                break
        char = body[i]
        if char in " \t\n;&|()<>":
            break
        if char == "\\":
            i += 2
        elif char in "'\"`" or body.startswith("$(", i) or body.startswith("{{", i):
            i = _skip_quoted(body, i)
        else:
            i += 1  # a lone `$` or `{`
    return min(i, n)


def _skip_heredocs(body: str, i: int, pending: list[tuple[str, bool]]) -> int:
    """Index past the bodies of the heredocs started on the line that ended before `i`."""
    n = len(body)
    for delimiter, strip_tabs in pending:
        while i < n:
            end = body.find("\n", i)
            end = n if end < 0 else end
            line = body[i:end]
            i = end + 1
            if (line.lstrip("\t") if strip_tabs else line).strip() == delimiter:
                break
    return min(i, n)


def _tokens(body: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end): "word", "op", "redir", "nl", or "heredoc" (a body, not shell code)."""
    i = 0
    n = len(body)
    pending_heredocs: list[tuple[str, bool]] = []
    expect_delimiter: Optional[bool] = None  # set after `<<`/`<<-`: the next word is the delimiter
    while i < n:
        match = _BOUNDARY.match(body, i)
        if match is None:
            end = _word_end(body, i)
            if end == i:  # a character nothing above consumed; never loop forever
                end = i + 1
            if expect_delimiter is not None:
                pending_heredocs.append((_unquote(body[i:end]), expect_delimiter))
                expect_delimiter = None
            yield "word", i, end
            i = end
            continue
        kind = match.lastgroup
        i = match.end()
        if kind == "nl":
            yield "nl", match.start(), i
            if pending_heredocs:
                start = i
                i = _skip_heredocs(body, i, pending_heredocs)
                pending_heredocs = []
                yield "heredoc", start, i
        elif kind == "redir":
            operator = match.group().lstrip("0123456789")
            if operator in ("<<", "<<-"):
                expect_delimiter = operator == "<<-"
            yield "redir", match.start(), i
        elif kind == "op":
            yield "op", match.start(), i


def commands(section: Section) -> tuple[Command, ...]:
    """The simple commands of a script section, in order."""
    return tuple(_split_commands(section))


def _split_commands(section: Section) -> Iterator[Command]:
    body = section.body
    positions = _Positions(section)
    words: list[Word] = []
    redirects: list[tuple[str, Optional[Word]]] = []
    before = ""
    redirect_op: Optional[str] = None
    for kind, start, end in _tokens(body):
        if kind == "word":
            word = Word(body[start:end], start, end, positions)
            if redirect_op is not None:
                redirects.append((redirect_op, word))
                redirect_op = None
            else:
                words.append(word)
            continue
        if kind == "redir":
            redirect_op = body[start:end].lstrip("0123456789")
            continue
        if kind == "heredoc":
            continue
        operator = "\n" if kind == "nl" else body[start:end]
        if words or redirects:
            yield Command(tuple(words), tuple(redirects), before, operator, section)
            words, redirects = [], []
        before = "" if operator == "\n" else operator
        redirect_op = None
    if words or redirects:
        yield Command(tuple(words), tuple(redirects), before, "", section)


def heredoc_lines(section: Section) -> frozenset[int]:
    """File lines that are heredoc bodies (data, not shell code) in a script section."""
    if "<<" not in section.body:
        return frozenset()
    positions = _Positions(section)
    lines: set[int] = set()
    for kind, start, end in _tokens(section.body):
        if kind == "heredoc" and end > start:
            first, _ = positions.at(start)
            last, _ = positions.at(end - 1)
            lines.update(range(first, last + 1))
    return frozenset(lines)


def script_sections(stage: Stage) -> Iterator[Section]:
    """The sections of a stage whose bodies are shell scripts."""
    return (section for section in stage.sections if section.is_script)


def all_script_sections(deffile: DefFile) -> Iterator[Section]:
    for stage in deffile.stages:
        yield from script_sections(stage)


def options_and_operands(argv: tuple[Word, ...]) -> tuple[list[Word], list[Word]]:
    """Split the arguments after the program name into options (`-x`, `--long`) and operands."""
    options: list[Word] = []
    operands: list[Word] = []
    for word in argv[1:]:
        (options if word.value.startswith("-") and word.value != "-" else operands).append(word)
    return options, operands


def has_short_flag(options: list[Word], letter: str) -> bool:
    """True when a short option cluster such as `-qy` contains `letter`."""
    return any(
        not word.value.startswith("--") and letter in word.value[1:].split("=", 1)[0]
        for word in options
    )


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


def unquoted_parts(text: str) -> Iterator[tuple[int, str]]:
    """The pieces of a word outside single and double quotes, with their offsets in `text`."""
    i = 0
    start = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char in "'\"":
            if i > start:
                yield start, text[start:i]
            i = _skip_quoted(text, i)
            start = i
        else:
            i += 1
    if start < len(text):
        yield start, text[start:]


def expansions(word: Word) -> Iterator[tuple[str, Span]]:
    """Variables a word expands (`$NAME`, `${NAME...}`), outside single quotes, with spans."""
    text = word.text
    if "$" not in text:
        return
    # The single-quoted stretches are found in one pass over the word, then each `$` is looked
    # up among them: a word of thousands of `$a` is read once, not once per `$`.
    quoted = _single_quoted(text)
    starts = [start for start, _ in quoted]
    for match in _EXPANSION.finditer(text):
        at = bisect.bisect_right(starts, match.start()) - 1
        if at >= 0 and match.start() < quoted[at][1]:
            continue
        yield match.group(1) or match.group(2), word.part_span(match.start(), match.end())


_EXPANSION = re.compile(r"\$(?:\{#?([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def _single_quoted(text: str) -> list[tuple[int, int]]:
    """(start, end) of each single-quoted string of `text` (quotes included), in order; single
    quotes inside double quotes are literal."""
    found: list[tuple[int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
        elif char == "'":
            end = _skip_quoted(text, i)
            found.append((i, end))
            i = end
        elif char == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
        else:
            i += 1
    return found


def word_part_span(word: Word, start: int, end: int) -> Span:
    """The file span of `word.text[start:end]`."""
    return word.part_span(start, end)
