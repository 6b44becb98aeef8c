"""What section lines and entry lines say, by Apptainer's rules: a section's name, arguments and
app; `%files`, `%labels` and `%arguments` entries (the grammar finds them, these read them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from defkit.errors import DefParseError
from defkit.gotext import leading_space, trim_space
from defkit.model import APP_SECTIONS, Argument, FileEntry, Label, Section, Span

#: bufio.MaxScanTokenSize: a token of Apptainer's scanner (the header, or a section) and the
#: section line that ends it must fit in the scanner's buffer.
MAX_TOKEN_SIZE = 64 * 1024

# deffile.go's fileSplitter, with Go's `\s` ([\t\n\f\r ]) and ASCII `\w` spelled out: Python's
# `\s` also matches \v. Alternatives in order: pieces holding a `{{ var }}` placeholder; a bare
# word; a double-quoted string; a single quote and what follows it (single quotes never close).
_GO_S = r"\t\n\f\r "
FILE_TOKEN = re.compile(
    rf"""(?:[^{_GO_S}"']*\{{\{{[{_GO_S}]*[0-9A-Za-z_]+[{_GO_S}]*\}}+[^{_GO_S}{{}}"']*)+"""
    rf"""|(?:[^{_GO_S}"']+|"[^"]*"|'[^']*)"""
)


def build_section(
    line: str,
    number: int,
    body_lines: Sequence[str],
    end: tuple[int, int],
    *,
    first: bool,
    path: str,
    files: Sequence[FileEntry | DefParseError] = (),
    labels: Sequence[Label] = (),
    arguments: Sequence[Argument] = (),
) -> tuple[Optional[Section], list[DefParseError]]:
    """The section whose `%name` line is `line` (line `number`), with the texts of its body lines
    and the entries the grammar found in them; `end` is where its last line ends. `first` for the
    first token of a stage, which Apptainer TrimSpaces. Also the errors found, in Apptainer's
    order; no section where Apptainer cannot tell an app section's app."""
    errors: list[DefParseError] = []
    column = 1
    body = "".join(text + "\n" for text in body_lines)
    if first:
        token = trim_space(line + "\n" + body)
        line_text, newline, body = token.partition("\n")
        column = leading_space(line) + 1
        if not newline:
            errors.append(
                DefParseError(
                    f"section {line_text}: could not be split into section name and body",
                    path=path,
                    span=line_span(number, line),
                    kind="section-split",
                )
            )
    else:
        line_text = line
    header_span = Span(number, column, number, len(line) + 1)
    span = Span(number, column, *end)
    name = section_name(line_text)
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
            return None, errors
        app: Optional[str] = parts[1]
        args = ""
    else:
        parts = written_parts(line_text, 2)
        app = None
        args = parts[1] if len(parts) == 2 else ""
    for entry in files:
        if isinstance(entry, DefParseError):
            errors.append(entry)
    section = Section(
        name=name,
        args=args,
        app=app,
        body=body,
        span=span,
        header_span=header_span,
        body_line=number + 1,
        written_name=parts[0],
        args_present=app is None and len(parts) == 2,
        files=tuple(entry for entry in files if isinstance(entry, FileEntry)),
        labels=tuple(labels),
        arguments=tuple(arguments),
    )
    return section, errors


def line_span(number: int, text: str) -> Span:
    """The whole of line `number`, whose text is `text`."""
    return Span(number, 1, number, len(text) + 1)


def section_name(first_line: str) -> str:
    """getSectionName: leading `%` removed, lower-cased, cut at the first space (U+0020 only)."""
    return first_line.lstrip("%").lower().split(" ", 1)[0]


def written_parts(first_line: str, limit: int) -> list[str]:
    """strings.SplitN(strings.TrimLeft(line, "%"), " ", limit): case kept."""
    return first_line.lstrip("%").split(" ", limit - 1)


def _entry_place(number: int, raw: str) -> tuple[str, Span]:
    """The text Apptainer reads from an entry line (trimmed) and where it is."""
    column = leading_space(raw) + 1
    text = trim_space(raw)
    return text, Span(number, column, number, column + len(text))


def file_entry(number: int, raw: str, *, path: str) -> FileEntry | DefParseError:
    """A `%files` line: source and destination, or the error for a line Apptainer crashes on."""
    text, span = _entry_place(number, raw)
    tokens = FILE_TOKEN.findall(text)
    if not tokens:
        # Apptainer indexes the first token without checking and panics.
        return DefParseError(
            f"%files line {text!r} has no source path (Apptainer crashes on this line)",
            path=path,
            span=span,
            kind="files-quote",
        )
    source = trim_space(tokens[0]).strip('"')
    destination = trim_space(tokens[1]).strip('"') if len(tokens) > 1 else ""
    return FileEntry(source, destination, span)


def _entry_texts(script: str) -> list[str]:
    """The trimmed lines of a (merged) script that are neither blank nor comments: the ones
    Apptainer's build-time readers take as entries."""
    texts = [trim_space(raw) for raw in script.split("\n")]
    return [text for text in texts if text and not text.startswith("#")]


def split_label(text: str) -> tuple[str, str]:
    """GetLabels: split a trimmed line at the first U+0020 space."""
    key, space, value = text.partition(" ")
    return trim_space(key), trim_space(value) if space else ""


def label(number: int, raw: str) -> Label:
    """A `%labels` line."""
    text, span = _entry_place(number, raw)
    return Label(*split_label(text), span)


def labels_map(script: str) -> dict[str, str]:
    """Apptainer's labels from a (merged) `%labels` script; the last duplicate wins."""
    return dict(map(split_label, _entry_texts(script)))


def split_argument(text: str) -> tuple[str, str] | None:
    """getKeyVal: split at the first `=`; None where Apptainer warns and skips the line."""
    key, equals, value = text.partition("=")
    key = trim_space(key)
    if not equals or not key:
        return None
    return key, trim_space(value)


def argument(number: int, raw: str) -> Optional[Argument]:
    """An `%arguments` line; None where Apptainer warns and skips it."""
    text, span = _entry_place(number, raw)
    pair = split_argument(text)
    return None if pair is None else Argument(*pair, span)


def arguments_map(script: str) -> dict[str, str]:
    """ReadDefaults over a (merged) `%arguments` script; the last duplicate wins."""
    pairs = map(split_argument, _entry_texts(script))
    return {pair[0]: pair[1] for pair in pairs if pair is not None}
