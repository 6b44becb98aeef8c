"""Shell text as POSIX sh reads it: the one scanner behind lint, convert and `defkit fmt`.

`scan(script)` reads a script once, left to right, and gives:

* `tokens`: the top-level tokens in order: words (quotes kept, with their quoted and substituted
  `parts`), control operators (`&&`, `||`, `;`, `;;`, `|`, `|&`, `&`, `(`, `)`), redirection
  operators (`>`, `2>>`, `<<-`, `&>` ...), unquoted newlines, comments, and heredoc bodies;
* `heredocs`: the here-documents opened at the top level, with their delimiters and bodies;
* `quoted`: every stretch the shell does not read as code (single, `$'...'` and double quotes,
  backslash escapes and line continuations, comments, heredoc bodies), in order, each at its
  innermost level: inside `"$(echo 'a')"` the single-quoted `'a'` is its own stretch and the
  double quotes around it are two stretches, one on each side of the command substitution;
* `balanced`: whether every quote, substitution and heredoc was closed.

`simple_commands` groups the tokens into simple commands. The word helpers (`word_value`,
`unquoted_parts`, `single_quoted`) and the line helpers for `defkit fmt` (`code_lines`,
`strippable_lines`) are built on the same scan.

This is a scanner, not a parser: it finds where words, quotes and heredocs begin and end (what
line positions and rules need), and it does not know `if`/`case`/functions. One rule it bends on
purpose: a `)` inside `$(...)` closes the substitution unless a `(` opened before it, so a `case`
pattern such as `a)` inside `$(...)` ends it early (write `(a)` there, as POSIX allows).

Nested quotes and substitutions are followed with an explicit stack, not recursion, and every
character is looked at a bounded number of times: hostile input thousands of levels deep costs
memory, never the interpreter's stack or quadratic time.

The Dockerfile word lexer (`defkit.dockerfile.expand`) is a different language and stays apart:
BuildKit's rules have a configurable escape character, no command substitution, and other
escapes inside double quotes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Optional

from defkit.templating import PLACEHOLDER

#: Token kinds.
WORD = "word"
OPERATOR = "operator"
REDIRECT = "redirect"
NEWLINE = "newline"
COMMENT = "comment"
HEREDOC = "heredoc"


# Tokens, parts and quoted stretches are plain tuples: a script has thousands of them, and a
# tuple is made many times faster than a named one.

#: A quoted or substituted part of a word: (kind, start, end, closed). Kinds: "single", "ansi"
#: (`$'...'`), "double", "escape" (a backslash and the character after it), "command"
#: (`$(...)`), "backtick", "arithmetic" (`$((...))`), "parameter" (`${...}`), "placeholder"
#: (Apptainer's `{{ NAME }}`). `closed` is False for a part the text ends inside.
Part = tuple[str, int, int, bool]

#: A token: (kind, start, end, parts): kind WORD, OPERATOR, REDIRECT, NEWLINE, COMMENT or
#: HEREDOC (a body with its delimiter line); parts are a word's `Part`s in order, the text
#: between them plain (empty for the other kinds).
Token = tuple[str, int, int, tuple[Part, ...]]

#: A stretch the shell does not read as code: (kind, start, end). Kinds: "single", "ansi",
#: "double", "escape" (escaped characters and line continuations), "comment", "heredoc".
Quoted = tuple[str, int, int]


class Heredoc(NamedTuple):
    delimiter: str  # as the shell compares it: quotes removed
    strip_tabs: bool  # `<<-`
    quoted: bool  # some of the delimiter was quoted: the body is not expanded
    start: int  # the body: [start, end), without the delimiter line
    end: int
    closed: bool  # False when the text ends before the delimiter line


@dataclass(frozen=True)
class Scan:
    tokens: tuple[Token, ...]
    heredocs: tuple[Heredoc, ...]
    quoted: tuple[Quoted, ...]
    balanced: bool


class SimpleCommand(NamedTuple):
    """The words and redirections of one simple command, and the operators around it."""

    words: tuple[Token, ...]
    redirects: tuple[tuple[str, Token], ...]  # (operator without its file descriptor, target)
    before: str  # the operator before it ("" at the start of a line or script)
    after: str  # the operator after it ("\n" at a line end, "" at the script end)
    heredocs: tuple[Heredoc, ...]  # the heredocs its `<<` and `<<-` open, in order


#: Between words: blanks, then a redirection operator (with the file descriptor before it), a
#: control operator, a word of plain characters only (other words are read piece by piece), a
#: newline or a comment; or nothing more. Operators longest first: `<<-` before `<<`.
_BETWEEN = re.compile(
    r"[ \t]*+(?:"
    r"(?P<redirect>[0-9]*+(?:<<<|<<-|<<|>>|>&|<&|&>>|&>|>\||<>|>|<))"
    r"|(?P<operator>&&|\|\||;;|\|&|[|;&()])"
    r"|(?P<word>[^ \t\n;&|()<>'\"`\\${#][^ \t\n;&|()<>'\"`\\${]*+)(?=[ \t\n;&|()<>]|\Z)"
    r"|(?P<newline>\n)"
    r"|(?P<comment>#[^\n]*+)"  # (a `#` inside a word is no comment: words are read first)
    r")?"
)
_HEREDOCS = ("<<", "<<-")  # the operators that open a heredoc
#: Runs of characters with no meaning to the shell: in a word of code, in `${...}`, in `$((...))`.
_PLAIN_CODE = re.compile(r"[^ \t\n;&|()<>'\"`\\${]+")
_PLAIN_PARAMETER = re.compile(r"[^'\"`\\${}]+")
_PLAIN_ARITHMETIC = re.compile(r"[^'\"`\\$()]+")
#: What ends a run of plain text inside double quotes and inside `$'...'`.
_DOUBLE_SPECIAL = re.compile(r"[\\\"$`]")
_ANSI_SPECIAL = re.compile(r"[\\']")
#: Inside double quotes a backslash escapes only these (before anything else it is literal).
_DOUBLE_ESCAPE = re.compile(r"\\([$`\"\\\n])")
#: What ends a word in code.
_WORD_END = frozenset(" \t\n;&|()<>")

#: Frames whose text is shell code: words, operators, comments and heredocs.
_CODE = ("script", "command", "backtick")


class _Frame:
    """One open construct on the scanner's stack."""

    __slots__ = ("kind", "start", "depth", "word", "expect", "piece", "in_double")

    def __init__(self, kind: str, start: int, in_double: bool) -> None:
        self.kind = kind
        self.start = start  # where the construct starts (its `$`, quote or backquote)
        self.depth = 0  # parentheses (command, arithmetic) or braces (parameter) opened inside
        self.word = -1  # code frames: where the word being read starts, -1 between words
        self.expect: Optional[bool] = None  # code frames: after `<<` (True) or `<<-`: a delimiter
        # Double quotes, and `${...}` inside them, whose text is double-quoted too: where the
        # current stretch of quoted text starts (nested substitutions interrupt it).
        self.piece = start
        self.in_double = in_double  # inside double quotes (directly, or in `${...}` there)


class _Scanner:
    def __init__(self, text: str, placeholders: bool, indented_delimiters: bool) -> None:
        self.text = text
        self.n = len(text)
        self.placeholders = placeholders
        self.indented_delimiters = indented_delimiters
        self.i = 0
        self.stack = [_Frame("script", 0, False)]
        self.tokens: list[Token] = []
        self.parts: list[Part] = []  # of the top-level word being read
        self.quoted: list[Quoted] = []
        self.heredocs: list[Heredoc] = []
        # Heredocs whose delimiter was read and whose body starts after the next newline:
        # (delimiter, strip_tabs, quoted, opened at the top level).
        self.pending: list[tuple[str, bool, bool, bool]] = []
        self.balanced = True

    def run(self) -> Scan:
        handlers = {
            "script": self.code, "command": self.code, "backtick": self.code,
            "double": self.double, "single": self.single, "ansi": self.ansi,
            "parameter": self.parameter, "arithmetic": self.arithmetic,
        }  # fmt: skip
        while self.i < self.n:
            handlers[self.stack[-1].kind](self.stack[-1])
        self.finish()
        return Scan(tuple(self.tokens), tuple(self.heredocs), tuple(self.quoted), self.balanced)

    # -- the stack ---------------------------------------------------------------------------

    def push(self, kind: str, start: int, inner: int) -> None:
        """Open a construct that starts at `start`, its text from `inner` on."""
        frame = self.stack[-1]
        if _double_quoted(frame) and start > frame.piece:
            self.quoted.append(("double", frame.piece, start))
        in_double = frame.kind == "double" or (frame.kind == "parameter" and frame.in_double)
        self.stack.append(_Frame(kind, start, in_double))
        self.i = inner

    def pop(self, end: int, closed: bool = True) -> None:
        """Close the innermost construct at `end` (just past its closer)."""
        frame = self.stack.pop()
        if _double_quoted(frame) and end > frame.piece:
            self.quoted.append(("double", frame.piece, end))
        parent = self.stack[-1]
        if _double_quoted(parent):
            parent.piece = end
        elif len(self.stack) == 1:
            self.parts.append((frame.kind, frame.start, end, closed))
        self.i = end

    def finish(self) -> None:
        """The text ended: close what is still open (the script is then unbalanced)."""
        n = self.n
        while len(self.stack) > 1:
            self.balanced = False
            frame = self.stack[-1]
            if frame.kind in ("single", "ansi"):
                self.quoted.append((frame.kind, frame.start, n))
            self.pop(n, closed=False)
        script = self.stack[0]
        if script.word >= 0:
            self.end_word(script, True, script.word, n)
        if self.pending:
            self.balanced = False

    # -- code: words, operators, comments, newlines ------------------------------------------

    def code(self, frame: _Frame) -> None:
        """Read code until a construct opens or `frame` closes (or the text ends)."""
        text, n, i = self.text, self.n, self.i
        top = len(self.stack) == 1
        tokens = self.tokens
        while i < n:
            if frame.word < 0:  # between words
                found = _BETWEEN.match(text, i)
                assert found is not None  # (it matches the empty string too)
                kind = found.lastgroup
                if kind is None:
                    i = found.end()  # (blanks skipped)
                    if i >= n:
                        break
                    if text.startswith("\\\n", i):
                        # A line continuation: sh removes the backslash and the newline.
                        self.quoted.append(("escape", i, i + 2))
                        i += 2
                        continue
                    if text[i] == "`" and frame.kind == "backtick":
                        self.pop(i + 1)
                        return
                    frame.word = i  # a word that starts with a quote, `$`, `{` or backslash
                else:
                    start, i = found.span(kind)
                    if kind == WORD:
                        if top and frame.expect is None:
                            tokens.append((WORD, start, i, ()))  # (no parts, no delimiter)
                        else:
                            self.end_word(frame, top, start, i)
                    elif kind == NEWLINE:
                        if top:
                            tokens.append((NEWLINE, start, i, ()))
                        frame.expect = None
                        if self.pending:
                            i = self.heredoc_bodies(i)
                    elif kind == COMMENT:
                        self.quoted.append((COMMENT, start, i))
                        if top:
                            tokens.append((COMMENT, start, i, ()))
                    else:
                        value = text[start:i]
                        if frame.kind == "command" and value in "()":
                            if value == ")" and frame.depth == 0:
                                self.pop(i)
                                return
                            frame.depth += 1 if value == "(" else -1
                        # (The word right after `<<` or `<<-` is its delimiter; anything else
                        # between them is a syntax error, and then no heredoc is read.)
                        opens = kind == REDIRECT and value.lstrip("0123456789") in _HEREDOCS
                        frame.expect = value.endswith("-") if opens else None
                        if top:
                            tokens.append((kind, start, i, ()))
                    continue
            # in a word
            plain = _PLAIN_CODE.match(text, i)
            if plain:
                i = plain.end()
                if i >= n:
                    break
            char = text[i]
            if char in _WORD_END or (char == "`" and frame.kind == "backtick"):
                self.end_word(frame, top, frame.word, i)
            elif char == "\\":
                end = min(i + 2, n)
                self.quoted.append(("escape", i, end))
                if top:
                    self.parts.append(("escape", i, end, True))
                i = end
            elif char == "'":
                self.push("single", i, i + 1)
                return
            elif char == '"':
                self.push("double", i, i + 1)
                return
            elif char == "`":
                self.push("backtick", i, i + 1)
                return
            elif char == "$" and self.substitution(i):
                return
            elif char == "{" and self.placeholders and (found := PLACEHOLDER.match(text, i)):
                # Apptainer replaces `{{ NAME }}` before the shell runs: one piece of a word.
                if top:
                    self.parts.append(("placeholder", i, found.end(), True))
                i = found.end()
            else:
                i += 1  # a `$` or `{` that starts nothing
        self.i = i

    def substitution(self, i: int) -> bool:
        """Open the expansion or quote that the `$` at `i` starts, if it starts one."""
        text = self.text
        after = text[i + 1 : i + 3]
        if after == "((":
            self.push("arithmetic", i, i + 3)
        elif after[:1] == "(":
            self.push("command", i, i + 2)
        elif after[:1] == "{":
            self.push("parameter", i, i + 2)
        elif after[:1] == "'" and self.stack[-1].kind in _CODE:  # (`$'` is literal in "...")
            self.push("ansi", i, i + 2)
        else:
            return False
        return True

    def end_word(self, frame: _Frame, top: bool, start: int, end: int) -> None:
        """The word at [start, end) of `frame` ends (`top`: `frame` is the script's)."""
        frame.word = -1
        parts: tuple[Part, ...] = ()
        if top:
            if self.parts:
                parts = tuple(self.parts)
                self.parts = []
            self.tokens.append((WORD, start, end, parts))
        if frame.expect is not None:
            # The word after `<<` is the delimiter; any quoting in it leaves the body unexpanded.
            word = self.text[start:end]
            delimiter = word_value(self.text, start, end, parts) if top else unquote(word)
            quoted = any(char in word for char in "'\"\\")
            self.pending.append((delimiter, frame.expect, quoted, top))
            frame.expect = None

    def heredoc_bodies(self, i: int) -> int:
        """Read the bodies of the pending heredocs from `i` (a line start); the index after."""
        text, n = self.text, self.n
        for delimiter, strip_tabs, quoted, top in self.pending:
            start = i
            body_end, closed = n, False
            while i < n:
                newline = text.find("\n", i)
                line_end = n if newline < 0 else newline
                line = text[i:line_end]
                next_line = line_end + 1 if newline >= 0 else n
                if self.is_delimiter(line, delimiter, strip_tabs):
                    body_end, closed = i, True
                    i = next_line
                    break
                i = next_line
            if not closed:
                self.balanced = False
            self.quoted.append(("heredoc", start, i))
            if top:
                self.tokens.append((HEREDOC, start, i, ()))
                self.heredocs.append(Heredoc(delimiter, strip_tabs, quoted, start, body_end,
                                             closed))
        self.pending = []
        return i

    def is_delimiter(self, line: str, delimiter: str, strip_tabs: bool) -> bool:
        if self.indented_delimiters:
            # (Lint reads an indented `    EOF` as the end its author meant; sh does not.)
            return line.strip() == delimiter
        return (line.lstrip("\t") if strip_tabs else line) == delimiter

    # -- quotes and expansions ---------------------------------------------------------------

    def single(self, frame: _Frame) -> None:
        close = self.text.find("'", self.i)
        if close < 0:
            self.i = self.n  # (finish records it, unclosed)
            return
        self.quoted.append(("single", frame.start, close + 1))
        self.pop(close + 1)

    def ansi(self, frame: _Frame) -> None:
        """`$'...'`: like single quotes, but a backslash escapes the next character (`\\'`)."""
        text, n, i = self.text, self.n, self.i
        while i < n:
            special = _ANSI_SPECIAL.search(text, i)
            if special is None:
                break
            i = special.start()
            if text[i] == "\\":
                i += 2
                continue
            self.quoted.append(("ansi", frame.start, i + 1))
            self.pop(i + 1)
            return
        self.i = n

    def double(self, frame: _Frame) -> None:
        """Double quotes: `$` expansions, backquotes and backslash escapes go on inside."""
        text, n, i = self.text, self.n, self.i
        while i < n:
            special = _DOUBLE_SPECIAL.search(text, i)
            if special is None:
                break
            i = special.start()
            char = text[i]
            if char == '"':
                self.pop(i + 1)
                return
            if char == "\\":
                end = min(i + 2, n)
                if i > frame.piece:
                    self.quoted.append(("double", frame.piece, i))
                self.quoted.append(("escape", i, end))
                frame.piece = i = end
            elif char == "`":
                self.push("backtick", i, i + 1)
                return
            elif self.substitution(i):
                return
            else:
                i += 1
        self.i = n

    def parameter(self, frame: _Frame) -> None:
        """`${...}`: ends at the `}` that matches its `{` (POSIX counts nested braces)."""
        text, n, i = self.text, self.n, self.i
        while i < n:
            plain = _PLAIN_PARAMETER.match(text, i)
            if plain:
                i = plain.end()
                if i >= n:
                    break
            char = text[i]
            if char == "}":
                if frame.depth == 0:
                    self.pop(i + 1)
                    return
                frame.depth -= 1
                i += 1
            elif char == "{":
                frame.depth += 1
                i += 1
            elif char == "\\":
                end = min(i + 2, n)
                if frame.in_double and i > frame.piece:
                    self.quoted.append(("double", frame.piece, i))
                self.quoted.append(("escape", i, end))
                frame.piece = i = end
            elif char == "'" and frame.in_double:
                i += 1  # literal inside "${...}"
            elif char in "'\"`":
                self.push({"'": "single", '"': "double", "`": "backtick"}[char], i, i + 1)
                return
            elif self.substitution(i):
                return
            else:
                i += 1
        self.i = n

    def arithmetic(self, frame: _Frame) -> None:
        """`$((...))`: no words, comments or heredocs (`<<` shifts, `16#ff` is a number)."""
        text, n, i = self.text, self.n, self.i
        while i < n:
            plain = _PLAIN_ARITHMETIC.match(text, i)
            if plain:
                i = plain.end()
                if i >= n:
                    break
            char = text[i]
            if char == "(":
                frame.depth += 1
                i += 1
            elif char == ")":
                if frame.depth == 0:
                    self.pop(i + 2 if text.startswith("))", i) else i + 1)
                    return
                frame.depth -= 1
                i += 1
            elif char == "\\":
                end = min(i + 2, n)
                self.quoted.append(("escape", i, end))
                i = end
            elif char in "'\"`":
                self.push({"'": "single", '"': "double", "`": "backtick"}[char], i, i + 1)
                return
            elif self.substitution(i):
                return
            else:
                i += 1
        self.i = n


def _double_quoted(frame: _Frame) -> bool:
    """Whether the frame's own text is double-quoted (nested substitutions apart)."""
    return frame.kind == "double" or (frame.kind == "parameter" and frame.in_double)


def scan(script: str, *, placeholders: bool = False, indented_delimiters: bool = False) -> Scan:
    """Scan `script` (see the module's docstring).

    `placeholders`: read Apptainer's `{{ NAME }}` as one piece of a word (a .def body, where
    templating replaces it before the shell runs). `indented_delimiters`: end a heredoc body at
    a line that is its delimiter with blanks around it too (lint: an indented %post's `  EOF`
    is the end its author meant, and rules read on after it)."""
    return _Scanner(script, placeholders, indented_delimiters).run()


def simple_commands(script: str, found: Scan) -> Iterator[SimpleCommand]:
    """The simple commands of `script` (whose scan is `found`), in order: words and redirections
    between control operators and newlines; comments and heredoc bodies skipped."""
    words: list[Token] = []
    redirects: list[tuple[str, Token]] = []
    heredocs: list[Heredoc] = []
    read = 0  # heredocs of `found` handed out so far (they come in the order they are opened)
    before = ""
    redirect: Optional[str] = None  # a redirection operator waiting for its target word
    for token in found.tokens:
        kind, start, end, _ = token
        if kind == WORD:
            if redirect is not None:
                redirects.append((redirect, token))
                if redirect in ("<<", "<<-") and read < len(found.heredocs):
                    heredocs.append(found.heredocs[read])
                    read += 1
                redirect = None
            else:
                words.append(token)
        elif kind == REDIRECT:
            redirect = script[start:end].lstrip("0123456789")
        elif kind in (OPERATOR, NEWLINE):
            operator = "\n" if kind == NEWLINE else script[start:end]
            redirect = None  # (one without a target is a syntax error: dropped)
            if words or redirects:
                yield SimpleCommand(
                    tuple(words), tuple(redirects), before, operator, tuple(heredocs)
                )
                words, redirects, heredocs = [], [], []
            before = "" if operator == "\n" else operator
    if words or redirects:
        yield SimpleCommand(tuple(words), tuple(redirects), before, "", tuple(heredocs))


# -- words --------------------------------------------------------------------------------------


def word_value(text: str, start: int, end: int, parts: tuple[Part, ...]) -> str:
    """The word `text[start:end]` (whose parts are `parts`) after quote removal: quotes and
    escaping backslashes removed, expansions and substitutions kept as written."""
    if not parts:
        return text[start:end]
    out: list[str] = []
    position = start
    for kind, part_start, part_end, closed in parts:
        out.append(text[position:part_start])
        close = 1 if closed else 0
        if kind == "escape":
            out.append(text[part_start + 1 : part_end].replace("\n", ""))
        elif kind == "single":
            out.append(text[part_start + 1 : part_end - close])
        elif kind == "ansi":
            out.append(text[part_start + 2 : part_end - close])  # (escape sequences as written)
        elif kind == "double":
            out.append(_DOUBLE_ESCAPE.sub(_unescaped, text[part_start + 1 : part_end - close]))
        else:
            out.append(text[part_start:part_end])
        position = part_end
    out.append(text[position:end])
    return "".join(out)


def _unescaped(match: re.Match[str]) -> str:
    return "" if match.group(1) == "\n" else match.group(1)


def unquote(word: str) -> str:
    """`word` after quote removal (see `word_value`); a word with blanks is read as the shell
    would read its first word."""
    for kind, start, end, parts in scan(word).tokens:
        if kind == WORD:
            return word_value(word, start, end, parts)
    return ""


def unquoted_parts(word: str) -> Iterator[tuple[int, str]]:
    """The stretches of `word` outside quotes (single, `$'...'`, double) and backslash escapes,
    with their offsets. Quoting is read innermost: in `"$(echo $@)"` the `$@` is outside quotes
    (the command substitution has its own), in `$(echo "$@")` it is inside."""
    if not any(char in word for char in "'\"\\"):  # nothing can be quoted: not worth a scan
        if word:
            yield 0, word
        return
    position = 0
    for kind, start, end in scan(word).quoted:
        if kind in ("single", "ansi", "double", "escape"):
            if start > position:
                yield position, word[position:start]
            position = max(position, end)
    if position < len(word):
        yield position, word[position:]


def single_quoted(word: str) -> list[tuple[int, int]]:
    """(start, end) of each single-quoted and `$'...'` string of `word`, quotes included, in
    order (a `'` inside double quotes is literal)."""
    return [(start, end) for kind, start, end in scan(word).quoted if kind in ("single", "ansi")]


# -- lines, for `defkit fmt` --------------------------------------------------------------------


def strippable_lines(body: str) -> set[int]:
    """Indexes (0-based) of the lines of `body` whose trailing white space no shell sees: not
    inside quotes or a heredoc body, not escaped by a backslash. Nothing when the script does
    not scan balanced (a construct the scanner does not understand)."""
    found = scan(body)
    if not found.balanced:
        return set()
    literal = _Stretches(found, ("single", "ansi", "double", "escape", "heredoc"))
    safe: set[int] = set()
    start = 0
    for index, line in enumerate(body.split("\n")):
        end = start + len(line)
        blanks = len(line) - len(line.rstrip(" \t"))
        if not blanks or not literal.meet(end - blanks, end):
            safe.add(index)
        start = end + 1
    return safe


def code_lines(body: str) -> set[int] | None:
    """Indexes (0-based) of the lines of `body` that start a new line of shell code: outside
    quotes and heredoc bodies, and not continuing a line that ends in a backslash. Their
    leading white space is not part of any word. None when the scan ends unbalanced."""
    found = scan(body)
    if not found.balanced:
        return None
    newlines = [match.start() for match in _NEWLINE.finditer(body)]
    code = set(range(len(newlines) + 1))
    for kind, start, end in found.quoted:
        if kind == "comment":
            continue
        # The lines after the newlines that a quote or escape holds continue it; a heredoc
        # holds its lines, from the first (after the newline before it) to the delimiter line.
        if kind == "heredoc":
            start, end = start - 1, end - 1
        first = bisect.bisect_left(newlines, start)
        last = bisect.bisect_left(newlines, end)
        code.difference_update(range(first + 1, last + 1))
    return code


_NEWLINE = re.compile("\n")


class _Stretches:
    """The quoted stretches of some kinds, sorted and disjoint, to ask what a range meets."""

    def __init__(self, found: Scan, kinds: tuple[str, ...]) -> None:
        chosen = [(start, end) for kind, start, end in found.quoted if kind in kinds]
        self.starts = [start for start, _ in chosen]
        self.ends = [end for _, end in chosen]

    def meet(self, start: int, end: int) -> bool:
        """Whether [start, end) meets one of the stretches."""
        at = bisect.bisect_right(self.starts, start) - 1
        if at >= 0 and self.ends[at] > start:
            return True
        return at + 1 < len(self.starts) and self.starts[at + 1] < end
