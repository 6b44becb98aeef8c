"""Section lines and the bodies Apptainer itself looks into: `%files`, `%labels`, `%arguments`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Optional

from defkit.errors import DefParseError
from defkit.gotext import GO_SPACE_CHARS, leading_space, trim_space
from defkit.model import APP_SECTIONS, Argument, FileEntry, Label, Section, Span
from defkit.scanner import Line, blocks, split_lines

# deffile.go's fileSplitter, with Go's `\s` ([\t\n\f\r ]) and ASCII `\w` spelled out: Python's
# `\s` also matches \v. Alternatives in order: pieces holding a `{{ var }}` placeholder; a bare
# word; a double-quoted string; a single quote and what follows it (single quotes never close).
_GO_S = r"\t\n\f\r "
FILE_TOKEN = re.compile(
    rf"""(?:[^{_GO_S}"']*\{{\{{[{_GO_S}]*[0-9A-Za-z_]+[{_GO_S}]*\}}+[^{_GO_S}{{}}"']*)+"""
    rf"""|(?:[^{_GO_S}"']+|"[^"]*"|'[^']*)"""
)


def build_section(
    group: list[Line], *, trimmed: bool, path: str, errors: list[DefParseError]
) -> Optional[Section]:
    """The section made of `group` (its `%name` line, then its body lines); `trimmed` for the
    first token of a stage, which Apptainer TrimSpaces. Errors found are appended to `errors`."""
    first = group[0]
    column = 1
    if trimmed:
        token = trim_space("".join(line.text + "\n" for line in group))
        line_text, newline, body = token.partition("\n")
        column = leading_space(first.text) + 1
        if not newline:
            errors.append(
                DefParseError(
                    f"section {line_text}: could not be split into section name and body",
                    path=path,
                    span=line_span(first),
                    kind="section-split",
                )
            )
    else:
        line_text = first.text
        body = "".join(line.text + "\n" for line in group[1:])
    header_span = Span(first.number, column, first.number, len(first.text) + 1)
    last = group[-1]
    span = Span(first.number, column, last.number, len(last.text) + 1)
    name = section_name(line_text)
    body_line = first.number + 1

    def files() -> tuple[FileEntry, ...]:
        entries, found = file_entries(body, body_line, path=path)
        errors.extend(found)
        return entries

    if name in APP_SECTIONS:
        parts = written_parts(line_text, 3)
        if len(parts) < 2:
            errors.append(
                DefParseError(
                    f"app section {parts[0]}: could not be split into section name and app name",
                    path=path,
                    span=header_span,
                    kind="app-section-split",
                )
            )
            return None
        return Section(
            name=name,
            args="",
            app=parts[1],
            body=body,
            span=span,
            header_span=header_span,
            body_line=body_line,
            written_name=parts[0],
            files=files() if name == "appfiles" else (),
            labels=labels(body, body_line) if name == "applabels" else (),
        )
    parts = written_parts(line_text, 2)
    return Section(
        name=name,
        args=parts[1] if len(parts) == 2 else "",
        app=None,
        body=body,
        span=span,
        header_span=header_span,
        body_line=body_line,
        written_name=parts[0],
        args_present=len(parts) == 2,
        files=files() if name == "files" else (),
        labels=labels(body, body_line) if name == "labels" else (),
        arguments=arguments(body, body_line) if name == "arguments" else (),
    )


def scanned_sections(chunk: str, first_line: int, path: str) -> list[Section]:
    """The sections of one stage as the scanner's tokens give them (the blocks the lexer hands
    the grammar), without the Lark parse.

    The linter starts ShellCheck on these before the full parse is done, and checks them
    against that parse before it uses the results."""
    found: list[Section] = []
    for index, (kind, group) in enumerate(blocks(split_lines(chunk, first_line))):
        if kind == "section":  # the first token of a stage is trimmed, as the builder does
            section = build_section(group, trimmed=index == 0, path=path, errors=[])
            if section is not None:
                found.append(section)
    return found


def line_span(line: Line) -> Span:
    return Span(line.number, 1, line.number, len(line.text) + 1)


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


def _body_texts(body: str) -> list[str]:
    """The trimmed texts `_body_lines` gives, without their places (for the maps: one list
    comprehension instead of a generator that also measures each line's indentation)."""
    texts = [raw.strip(GO_SPACE_CHARS) for raw in body.split("\n")]
    return [text for text in texts if text and text[0] != "#"]


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
    return dict(map(split_label, _body_texts(script)))


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
    pairs = map(split_argument, _body_texts(script))
    return {pair[0]: pair[1] for pair in pairs if pair is not None}
