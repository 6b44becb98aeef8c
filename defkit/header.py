"""The header of a stage: `Key: value` lines, exactly as Apptainer's `doHeader` reads them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from defkit.errors import DefParseError
from defkit.gotext import leading_space, trim_space
from defkit.model import HeaderEntry, Span

APPTAINER_KEYS = frozenset(
    (
        "bootstrap", "from", "includecmd", "mirrorurl", "updateurl", "osversion", "include",
        "library", "registry", "namespace", "stage", "product", "user", "regcode", "productpgp",
        "registerurl", "modules", "fingerprints", "confurl", "setopt", "target", "frontend",
        "filename", "buildargs",
    )
)
SINGULARITYCE_KEYS = APPTAINER_KEYS - {"confurl", "target", "frontend", "filename", "buildargs"}
KEYS_BY_FLAVOUR = {"apptainer": APPTAINER_KEYS, "singularityce": SINGULARITYCE_KEYS}
_TRAILING_DIGITS = re.compile(r"[0-9]+\Z")

PREFIX = "failed to parse deffile header: "


def is_valid_key(key: str, flavour: str = "apptainer") -> bool:
    """Apptainer's key check: trailing digits are allowed only on `otherurl`."""
    if key in KEYS_BY_FLAVOUR[flavour]:
        return True
    stripped = _TRAILING_DIGITS.sub("", key)
    return stripped != key and stripped == "otherurl"


@dataclass
class _Pending:
    """A value that ended with a backslash and continues on the next line."""

    key: str
    value: str
    entry_start: tuple[int, int]
    value_start: tuple[int, int]
    raw_key: str


def parse_header(
    lines: Sequence[tuple[int, str]], *, path: str, flavour: str
) -> tuple[tuple[HeaderEntry, ...], list[DefParseError]]:
    """The entries of the header's (line number, text) lines in file order, and every error
    found (Apptainer stops at the first one).

    Mirrors doHeader's state, including its quirks: a continuation whose value before the
    backslash is empty does not continue (the next line is read as a new `Key: value`), and a
    continuation still pending at a blank or comment line crashes Apptainer.
    """
    entries: list[HeaderEntry] = []
    errors: list[DefParseError] = []
    pending_key = ""
    pending: _Pending | None = None

    for number, line in lines:
        text = trim_space(line)
        indent = leading_space(line)
        if text == "" or text.startswith("#"):
            if pending_key:
                errors.append(
                    DefParseError(
                        "failed to parse deffile header: the header line continued with '\\' "
                        "is followed by a blank or comment line (Apptainer crashes on this: "
                        "assignment to entry in nil map)",
                        path=path,
                        span=Span(number, 1, number, len(line) + 1),
                        kind="header-continuation",
                    )
                )
                pending_key, pending = "", None
            continue
        before_comment = text.split("#", 1)[0]
        if pending is None or pending.value == "":
            key_part, colon, value_part = before_comment.partition(":")
            if not colon:
                errors.append(
                    DefParseError(
                        f"{PREFIX}header key {before_comment} had no val",
                        path=path,
                        span=Span(number, indent + 1, number, len(line) + 1),
                        kind="header-no-value",
                    )
                )
                continue
            raw_key = trim_space(key_part)
            key, value = raw_key.lower(), trim_space(value_part)
            key_column = indent + 1 + leading_space(key_part)
            value_column = indent + len(key_part) + 2 + leading_space(value_part)
            entry_start = (number, key_column)
            value_start = (number, value_column)
        else:
            key, value = pending.key, pending.value + trim_space(before_comment)
            entry_start, value_start, raw_key = (
                pending.entry_start,
                pending.value_start,
                pending.raw_key,
            )
            pending_key, pending = "", None
        end = (number, indent + len(before_comment.rstrip()) + 1)
        if value.endswith("\\"):
            continued = value[:-1]
            if continued.endswith("\\n"):
                continued = continued[:-2] + "\n"
            pending_key = key
            pending = _Pending(key, continued, entry_start, value_start, raw_key)
            continue
        if not is_valid_key(key, flavour):
            errors.append(
                DefParseError(
                    f"{PREFIX}invalid header keyword found: {key}",
                    path=path,
                    span=Span(*entry_start, entry_start[0], entry_start[1] + len(raw_key)),
                    kind="invalid-header-key",
                )
            )
        entries.append(
            HeaderEntry(
                key=key,
                value=value,
                raw_key=raw_key,
                span=Span(*entry_start, *end),
                value_span=Span(*value_start, *end),
            )
        )
    # A value still continued at the end of the header is dropped silently, as in Apptainer.
    return tuple(entries), errors
