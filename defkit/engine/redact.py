"""Keep build-argument values out of logs and error messages, and secrets out of the image.

Values are substituted into the commands as Apptainer does, but what defkit itself reports,
events and errors, shows `***` instead: a `--build-arg TOKEN=...` must not leak into CI logs. A
value reaches a log in more forms than as it was given, and each is masked:
- as is, and trimmed (header values and `KEY = VALUE` lines are trimmed by the parsers);
- shell-quoted, and re-quoted by `set -x` (bash `'\\''`, busybox/dash `'"'"'`, bash `$'...'`);
- line by line (a multi-line value is logged one line at a time; the runner also splits at CR);
- JSON-escaped (the `--json` log) and repr-escaped (`{value!r}` in messages), ASCII or not.
Values (and lines) shorter than 3 characters are left alone: masking every "1" would make the log
unreadable and protect nothing.

Which arguments are secrets (`secret_names`): the ones the user marked (`--secret`,
`--secret-file`) and those whose name has a secret-looking word part (`DB_PASSWORD`, `apiToken`,
`SSH_KEY`). A secret's value is never recorded in the image; other arguments are, as labels.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Collection, Iterable, Mapping

from defkit.engine.context import Event, ProgressCallback
from defkit.errors import DefkitError

MASK = "***"
MIN_LENGTH = 3
#: Word parts of an argument name that make it a secret without being marked.
SECRET_WORDS = frozenset({
    "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "PASS", "PW", "PWD", "TOKEN", "TOKENS",
    "SECRET", "SECRETS", "KEY", "KEYS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "CRED", "CREDS",
    "AUTH", "OAUTH", "COOKIE",
})
# Word parts: runs of capitals, capitalised words and digits (`apiKey`, `DB_PASSWORD`, `KEY2`).
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# bash's ansic_quote (lib/sh/strtrans.c): what `set -x` shows inside `$'...'`.
_ANSI_C = {"\x1b": "\\E", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
           "\t": "\\t", "\v": "\\v", "\\": "\\\\", "'": "\\'"}


def looks_secret(name: str) -> bool:
    """Whether an argument name has a secret-looking word part (PASSWORD, TOKEN, KEY...)."""
    return any(word.upper() in SECRET_WORDS for word in _WORD.findall(name))


def secret_names(args: Iterable[str], marked: Collection[str] = ()) -> frozenset[str]:
    """The arguments whose values must never be recorded: marked, or named like a secret."""
    return frozenset(name for name in args if name in marked or looks_secret(name))


def recorded_args(args: Mapping[str, str], used: Collection[str],
                  secrets: Collection[str]) -> dict[str, str]:
    """The build arguments the image may record: used by a placeholder and not secret."""
    return {name: value for name, value in sorted(args.items())
            if name in used and name not in secrets}


def _ansi_c(text: str, *, utf8: bool) -> str:
    """bash's `$'...'` body: unprintable characters as the octal escapes of their bytes (in a
    UTF-8 locale printable non-ASCII characters are kept; in the C locale none is)."""
    def escaped(char: str) -> str:
        if char in _ANSI_C:
            return _ANSI_C[char]
        if char.isprintable() and (char.isascii() or utf8):
            return char
        return "".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape"))

    return "".join(escaped(char) for char in text)


def printed_forms(value: str) -> set[str]:
    """Every form in which `value`, or a line of it, can appear in defkit's output."""
    pieces = {value, value.strip()}
    for line in _LINE_BREAK.split(value):
        pieces |= {line, line.strip()}
    forms: set[str] = set()
    for piece in (p for p in pieces if len(p) >= MIN_LENGTH):
        forms |= {
            piece,
            shlex.quote(piece),
            piece.replace("'", "'\\''"),  # bash set -x, POSIX quoting
            piece.replace("'", "'\"'\"'"),  # busybox/dash set -x, shlex.quote
            _ansi_c(piece, utf8=True),
            _ansi_c(piece, utf8=False),
            json.dumps(piece)[1:-1],
            json.dumps(piece, ensure_ascii=False)[1:-1],
            repr(piece)[1:-1],
            ascii(piece)[1:-1],
            # Inside a longer repr() that holds both quotes, `'` is escaped too.
            repr(piece + "'\"")[1:-4],
            ascii(piece + "'\"")[1:-4],
        }
    return forms


class Redactor:
    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_LENGTH:
                forms |= printed_forms(value)
        # Longest first, so a form containing another is masked whole.
        self.values = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def error(self, error: DefkitError) -> None:
        """Mask the error's message (what `format()` shows) and its args (what `str()` shows)."""
        error.message = self(error.message)
        error.args = tuple(self(arg) if isinstance(arg, str) else arg for arg in error.args)

    def event(self, event: Event) -> Event:
        if not self.values:
            return event
        changes = {f.name: self(getattr(event, f.name)) for f in dataclasses.fields(event)
                   if isinstance(getattr(event, f.name), str)}
        return dataclasses.replace(event, **changes)

    def wrap(self, progress: ProgressCallback) -> ProgressCallback:
        if not self.values:
            return progress

        def redacted(event: Event) -> None:
            progress(self.event(event))

        return redacted
