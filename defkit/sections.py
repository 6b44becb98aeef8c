"""Section lines and the bodies Apptainer itself looks into: `%files`, `%labels`, `%arguments`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.errors import DefParseError
from defkit.gotext import leading_space, trim_space
from defkit.model import Argument, FileEntry, Label, Span

# deffile.go's fileSplitter, with Go's `\s` ([\t\n\f\r ]) and ASCII `\w` spelled out: Python's
# `\s` also matches \v. Alternatives in order: pieces holding a `{{ var }}` placeholder; a bare
# word; a double-quoted string; a single quote and what follows it (single quotes never close).
_GO_S = r"\t\n\f\r "
FILE_TOKEN = re.compile(
    rf"""(?:[^{_GO_S}"']*\{{\{{[{_GO_S}]*[0-9A-Za-z_]+[{_GO_S}]*\}}+[^{_GO_S}{{}}"']*)+"""
    rf"""|(?:[^{_GO_S}"']+|"[^"]*"|'[^']*)"""
)


def section_name(first_line: str) -> str:
    """getSectionName: leading `%` removed, lower-cased, cut at the first space (U+0020 only)."""
    return first_line.lstrip("%").lower().split(" ", 1)[0]


def written_parts(first_line: str, limit: int) -> list[str]:
    """strings.SplitN(strings.TrimLeft(line, "%"), " ", limit): case kept."""
    return first_line.lstrip("%").split(" ", limit - 1)


def _body_lines(body: str, first_line: int) -> Iterator[tuple[int, int, str]]:
    """(line number, column of the trimmed text, trimmed text) of each body line that is neither
    blank nor a `#` comment: what Apptainer's TrimSpace/Split/TrimSpace loops keep."""
    for offset, raw in enumerate(body.split("\n")):
        text = trim_space(raw)
        if text and not text.startswith("#"):
            yield first_line + offset, leading_space(raw) + 1, text


def file_entries(
    body: str, first_line: int, *, path: str
) -> tuple[tuple[FileEntry, ...], list[DefParseError]]:
    entries: list[FileEntry] = []
    errors: list[DefParseError] = []
    for number, column, text in _body_lines(body, first_line):
        span = Span(number, column, number, column + len(text))
        tokens = FILE_TOKEN.findall(text)
        if not tokens:
            # Apptainer indexes the first token without checking and panics.
            errors.append(
                DefParseError(
                    f"%files line {text!r} has no source path (Apptainer crashes on this line)",
                    path=path,
                    span=span,
                    kind="files-quote",
                )
            )
            continue
        source = trim_space(tokens[0]).strip('"')
        destination = trim_space(tokens[1]).strip('"') if len(tokens) > 1 else ""
        entries.append(FileEntry(source, destination, span))
    return tuple(entries), errors


def split_label(text: str) -> tuple[str, str]:
    """GetLabels: split a trimmed line at the first U+0020 space."""
    key, space, value = text.partition(" ")
    return trim_space(key), trim_space(value) if space else ""


def labels(body: str, first_line: int) -> tuple[Label, ...]:
    found = []
    for number, column, text in _body_lines(body, first_line):
        key, value = split_label(text)
        found.append(Label(key, value, Span(number, column, number, column + len(text))))
    return tuple(found)


def labels_map(script: str) -> dict[str, str]:
    """Apptainer's labels from a (merged) `%labels` script; the last duplicate wins."""
    return {key: value for key, value in (split_label(t) for _, _, t in _body_lines(script, 1))}


def split_argument(text: str) -> tuple[str, str] | None:
    """getKeyVal: split at the first `=`; None where Apptainer warns and skips the line."""
    key, equals, value = text.partition("=")
    key = trim_space(key)
    if not equals or not key:
        return None
    return key, trim_space(value)


def arguments(body: str, first_line: int) -> tuple[Argument, ...]:
    found = []
    for number, column, text in _body_lines(body, first_line):
        pair = split_argument(text)
        if pair is not None:
            found.append(Argument(*pair, Span(number, column, number, column + len(text))))
    return tuple(found)


def arguments_map(script: str) -> dict[str, str]:
    """ReadDefaults over a (merged) `%arguments` script; the last duplicate wins."""
    pairs = (split_argument(text) for _, _, text in _body_lines(script, 1))
    return {pair[0]: pair[1] for pair in pairs if pair is not None}
