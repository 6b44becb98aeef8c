"""BuildKit's shell-word rules: quote removal, escapes and `$VAR` substitution in one pass.

Docker does not run a shell for ENV, ARG, LABEL, COPY/ADD, WORKDIR, FROM, USER, EXPOSE, VOLUME or
STOPSIGNAL words; BuildKit's own lexer (frontend/dockerfile/shell/lex.go) processes them. This
module follows that lexer's behaviour:

* `'single'` quotes keep everything literally; `"double"` quotes allow `$` substitution and
  escaping of `"`, `$` and the escape character only; the escape character (backslash, or the
  backtick chosen with `# escape=`) outside quotes makes the next character literal.
* `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`,
  `${NAME:?msg}`, `${NAME?msg}`, `${NAME#pat}`, `${NAME##pat}`, `${NAME%pat}`, `${NAME%%pat}`,
  `${NAME/pat/repl}`, `${NAME//pat/repl}` (patterns: `*` and `?`, no brackets). An unset variable
  expands to "" (or is kept as written with `skip_unset=True`). `$` before anything that is not a
  name stays a literal `$`. There is no command substitution, arithmetic or globbing.

API:
    expand(word, env, *, escape) -> str           # one word, inner spaces kept (ENV, WORKDIR..)
    expand_words(text, env, *, escape) -> list    # words after substitution (COPY, EXPOSE..)
    expand_detailed(word, env, *, escape) -> Expansion  # also which names were used / unset
    expand_heredoc(content, env) -> str           # COPY/ADD heredoc body whose marker is unquoted
Errors raise `ExpansionError` (a DockerfileParseError without a position; callers add one).

This lexer stays apart from defkit's shell scanner (`defkit.shell_scan`, POSIX sh for lint,
convert and fmt) because the language differs, not only the output: the escape character can be
a backtick (`# escape=`), `$(...)`, backquotes, arithmetic, comments and heredocs mean nothing
here, a backslash inside double quotes escapes only `"`, `$` and the escape character, and words
are split on Go's white space. Sharing a core would mean a scanner full of switches for two
languages; RUN text, which does go to a shell, is read with `defkit.shell_scan`.

What BuildKit expands (with the ARG/ENV values in effect, see `scope.py`): ENV, LABEL and ARG keys
and values; COPY/ADD sources, destination, --chown, --chmod, ADD --checksum; WORKDIR; USER;
VOLUME; STOPSIGNAL; EXPOSE (split into words); RUN --mount values; FROM image and --platform (global
ARGs only). Not expanded: RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK command text (the shell does that),
MAINTAINER, ONBUILD triggers (expanded when they fire). A COPY/ADD heredoc body is expanded with
quotes left alone (`expand_heredoc`) unless its marker was quoted; a RUN heredoc goes to the shell.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from defkit.dockerfile import glob
from defkit.dockerfile.errors import ExpansionError as ExpansionError  # re-exported
from defkit.gotext import GO_SPACE

_EOF = ""
_SPECIAL_PARAMETERS = frozenset("@*#?-$!0")


def is_go_space(char: str) -> bool:
    """Go's unicode.IsSpace, which BuildKit uses everywhere it splits on whitespace."""
    return char in GO_SPACE


@dataclass(frozen=True)
class LexOptions:
    """Switches of BuildKit's Lex; the defaults are the ones instruction expansion uses."""

    escape: str = "\\"
    raw_quotes: bool = False  # keep quote characters in the output
    raw_escapes: bool = False  # keep escape characters in the output
    skip_unset: bool = False  # leave references to unset variables as written
    skip_quotes: bool = False  # do not treat quotes specially at all


@dataclass(frozen=True)
class Expansion:
    """What the lexer made of a word: the text, its words, the names used and unset."""

    result: str  # the processed word, inner spaces kept
    words: tuple[str, ...]  # the same text split into words after substitution
    used: frozenset[str]  # variable names found in env
    unset: frozenset[str]  # variable names referenced but not set


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """The value BuildKit gives `word` in the environment `env` (ProcessWord)."""
    return process(word, env, LexOptions(escape=escape)).result


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """`text` split into words after substitution and quote removal (ProcessWords)."""
    return list(process(text, env, LexOptions(escape=escape)).words)


def expand_detailed(word: str, env: Mapping[str, str], *, escape: str = "\\") -> Expansion:
    return process(word, env, LexOptions(escape=escape))


def expand_heredoc(content: str, env: Mapping[str, str]) -> str:
    """A COPY/ADD heredoc body as BuildKit writes it: `$VAR` substituted, quotes kept."""
    return process(content, env, LexOptions(skip_quotes=True)).result


def process(text: str, env: Mapping[str, str], options: LexOptions) -> Expansion:
    if _plain_run(options.escape, _EOF, options.skip_quotes).fullmatch(text):
        # One run of characters the lexer copies as they are (most words: paths, images):
        # its result is the text itself, one word, with nothing looked up.
        return Expansion(text, (text,), frozenset(), frozenset())
    lexer = _Lexer(text, env, options)
    result, words = _run(lexer.process_until(_EOF, options.raw_escapes))
    return Expansion(result, tuple(words), frozenset(lexer.used), frozenset(lexer.unset))


#: A step of the lexer that reads a nested construct (`${NAME:-word}`, `"..."`): a generator that
#: yields the frames it needs read first, receives their results, and returns its own.
_Frame = Generator["_Frame", Any, Any]


def _run(frame: _Frame) -> Any:
    """Run `frame` and the frames it asks for with an explicit stack, not Python's: BuildKit's
    lexer recurses on `${a:-${b:-...}}` without a limit, and so may a hostile Dockerfile, while
    Python's stack holds about a thousand calls. Errors go up the stack as they would through
    calls (a frame may catch one its child raised)."""
    stack = [frame]
    value: Any = None
    error: Optional[ExpansionError] = None
    while True:
        try:
            if error is None:
                child = stack[-1].send(value)
            else:
                child = stack[-1].throw(error)
                error = None
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value
            value = done.value
            continue
        except ExpansionError as exc:
            stack.pop()
            if not stack:
                raise
            error = exc
            continue
        stack.append(child)
        value = None


@dataclass
class _Words:
    """Word splitting as the lexer goes: substituted text splits, quoted text does not."""

    buffer: str = ""
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, char: str) -> None:
        if is_go_space(char):
            if self.in_word and self.buffer:
                self.words.append(self.buffer)
                self.buffer = ""
                self.in_word = False
        else:
            self.add_raw(char)

    def add_raw(self, text: str) -> None:
        self.buffer += text
        self.in_word = True

    def add_text(self, text: str) -> None:
        for char in text:
            self.add_char(char)

    def finish(self) -> list[str]:
        if self.buffer:
            self.words.append(self.buffer)
        self.buffer = ""
        self.in_word = False
        return self.words


@functools.cache
def _plain_run(escape: str, stop: str, skip_quotes: bool) -> re.Pattern[str]:
    """One or more characters the lexer copies as they are: no `$`, `<`, quote (unless quotes
    are not special), escape character, white space (it splits words) or `stop`."""
    special = "$<" + escape + stop + ("" if skip_quotes else "'\"") + "".join(GO_SPACE)
    return re.compile("[^" + re.escape(special) + "]+")


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], options: LexOptions) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.options = options
        self.escape = options.escape
        self.used: set[str] = set()
        self.unset: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        char = self.peek()
        if char:
            self.pos += 1
        return char

    def lookup(self, name: str) -> Optional[str]:
        value = self.env.get(name)
        if value is None:
            self.unset.add(name)
        else:
            self.used.add(name)
        return value

    def process_until(self, stop: str, raw_escapes: bool) -> _Frame:
        """Read up to `stop` (consumed) or the end of the text when `stop` is _EOF; returns
        (text, words)."""
        result: list[str] = []
        words = _Words()
        plain = _plain_run(self.escape, stop, self.options.skip_quotes).match
        source = self.text
        while self.peek() != _EOF:
            run = plain(source, self.pos)
            if run is not None:
                # A run of characters with no special meaning here: taken as a whole (what
                # the character-by-character branch below does with each of them).
                chunk = run.group()
                self.pos = run.end()
                result.append(chunk)
                words.add_raw(chunk)
                continue
            char = self.peek()
            if stop and char == stop:
                self.next()
                return "".join(result), words.finish()
            if char == "$":
                text = self.dollar()
                if not isinstance(text, str):
                    text = yield text
                result.append(text)
                words.add_text(text)
            elif char == "<":
                text = self.possible_heredoc()
                result.append(text)
                words.add_raw(text)
            elif char in "'\"" and not self.options.skip_quotes:
                if char == "'":
                    text = self.single_quoted()
                else:
                    text = yield self.double_quoted(raw_escapes)
                result.append(text)
                words.add_raw(text)
            else:
                char = self.next()
                if char == self.escape:
                    if raw_escapes:
                        words.add_raw(char)
                        result.append(char)
                    char = self.next()
                    if char == _EOF:
                        break
                    words.add_raw(char)
                else:
                    words.add_char(char)
                result.append(char)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def single_quoted(self) -> str:
        # Nothing is special between single quotes, and a single quote cannot be escaped.
        opening = self.next()
        out = [opening] if self.options.raw_quotes else []
        while True:
            char = self.next()
            if char == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if char == "'":
                if self.options.raw_quotes:
                    out.append(char)
                return "".join(out)
            out.append(char)

    def double_quoted(self, raw_escapes: bool) -> _Frame:
        opening = self.next()
        out = [opening] if self.options.raw_quotes else []
        while True:
            char = self.peek()
            if char == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if char == '"':
                self.next()
                if self.options.raw_quotes:
                    out.append(char)
                return "".join(out)
            if char == "$":
                text = self.dollar()
                if not isinstance(text, str):
                    text = yield text
                out.append(text)
                continue
            char = self.next()
            if char == self.escape:
                if raw_escapes:
                    out.append(char)
                following = self.peek()
                if following == _EOF:
                    continue
                # Only ", $ and the escape character itself can be escaped inside "...".
                if following in ('"', "$", self.escape):
                    char = self.next()
            out.append(char)

    def possible_heredoc(self) -> str:
        """`<<` and the blanks after it stay glued to the following word (`<< EOF` is one word)."""
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        blanks = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            blanks.append(self.next())
        return "<<" + "".join(blanks)

    def name(self) -> str:
        """A variable name: letters, digits, `_`; or all digits; or one special parameter."""
        chars: list[str] = []
        while self.peek() != _EOF:
            char = self.peek()
            if not chars and char.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    chars.append(self.next())
                return "".join(chars)
            if not chars and char in _SPECIAL_PARAMETERS:
                return self.next()
            if not (char.isalpha() or char.isdecimal() or char == "_"):
                break
            chars.append(self.next())
        return "".join(chars)

    def dollar(self) -> Union[str, _Frame]:
        """The value of the `$...` here; for `${NAME<modifier>...}`, the frame that reads the
        rest (nested words) and returns the value."""
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.options.skip_unset else ""
            return value
        self.next()
        following = self.peek()
        if following == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if following in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        modifier = self.next()
        if modifier == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.options.skip_unset else ""
            return value
        if modifier == "/":
            return self.substitute(name)
        if modifier == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        return self.modified(name, modifier)

    def modified(self, name: str, modifier: str) -> _Frame:
        spelled = modifier
        null_is_unset = modifier == ":"
        if null_is_unset:
            modifier = self.next()
            spelled += modifier
        if modifier not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({spelled}) in substitution")
        pattern_like = modifier in "#%"
        if null_is_unset and pattern_like:
            raise ExpansionError(f"unsupported modifier ({spelled}) in substitution")
        word = yield self.argument("}", pattern_like)
        value = self.lookup(name)
        if value is None and self.options.skip_unset:
            return "${" + name + spelled + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if modifier == "-":
            return word if empty else (value or "")
        if modifier == "+":
            return "" if empty else word
        if modifier == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(modifier)
        if greedy:
            word = word[1:]
        if modifier == "%":
            return glob.trim_suffix(word, value or "", longest=greedy)
        return glob.trim_prefix(word, value or "", longest=greedy)

    def substitute(self, name: str) -> _Frame:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = yield self.argument("/", True, missing="syntax error: missing '/' in ${}")
        replacement = yield self.argument("}", True)
        value = self.lookup(name)
        if value is None and self.options.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        return glob.replace(pattern, value or "", replacement, replace_all)

    def argument(
        self, stop: str, raw_escapes: bool, missing: str = "syntax error: missing '}'"
    ) -> _Frame:
        try:
            word, _words = yield self.process_until(stop, raw_escapes)
        except ExpansionError:
            if self.peek() == _EOF:
                raise ExpansionError(missing) from None
            raise
        return word
