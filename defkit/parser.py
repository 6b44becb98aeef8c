"""Parse definition files exactly as Apptainer does.

`parse_text` is Apptainer's `parser.All` (what `apptainer build` starts from): the file is split
into stages before every `Bootstrap:` line and each stage is parsed on its own. `parse_single` is
`parser.ParseDefinitionFile` on the whole text. `parse_lenient` returns a model even for a file
Apptainer rejects, with every error found, for the linter.

Each stage is lexed a line at a time by `defkit.line_lexer` (Apptainer's byte rules), parsed by
Lark with `grammar/deffile.lark`, and transformed into the model by `defkit.stage`, which applies
Apptainer's semantics to what the lines say.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Union

from defkit.errors import DefParseError
from defkit.model import DefFile, Span, Stage
from defkit.stage import parse_stage

# `(?mi)^bootstrap:` in Go: at column 0 of any line, any case, colon right after the word.
_STAGE_START = re.compile(r"^bootstrap:", re.MULTILINE | re.IGNORECASE)

Source = Union[str, bytes]
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode(data: Source, path: str) -> str:
    """Text from bytes, refusing what Apptainer would misread without saying so."""
    if isinstance(data, str):
        text = data
        index = lone_surrogate(text)
        if index >= 0:  # (only a str made with surrogateescape holds one)
            line = text.count("\n", 0, index) + 1
            column = index - (text.rfind("\n", 0, index) + 1) + 1
            raise DefParseError(
                f"the text holds a lone surrogate (U+{ord(text[index]):04X}), which no UTF-8 "
                "file can",
                path=path,
                span=Span(line, column, line, column + 1),
                kind="encoding",
            )
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise DefParseError(
                f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                path=path,
                span=Span(line, column, line, column + 1),
                kind="encoding",
            ) from None
    if text.startswith("\ufeff"):
        raise DefParseError(
            "the file starts with a UTF-8 byte order mark, which Apptainer reads as part of the "
            "first line (invalid header keyword found: \\ufeffbootstrap); remove it",
            path=path,
            span=Span(1, 1, 1, 2),
            kind="encoding",
        )
    return text


def lone_surrogate(text: str) -> int:
    """The index of the first lone UTF-16 surrogate in `text`, or -1 (text decoded from a file
    holds none; one decoded with surrogateescape may)."""
    if text.isascii():
        return -1
    found = _SURROGATE.search(text)
    return -1 if found is None else found.start()


def split_stages(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each chunk `parser.All` parses; empty chunks dropped."""
    starts = [match.start() for match in _STAGE_START.finditer(text)]
    bounds = [0, *starts, len(text)]
    chunks = []
    line = 1  # the line `begin` is on, counted on from the previous chunk's start
    counted_to = 0
    for begin, end in zip(bounds, bounds[1:]):
        if end > begin:
            line += text.count("\n", counted_to, begin)
            counted_to = begin
            chunks.append((line, text[begin:end]))
    return chunks


def _parse_all(
    text: str, path: str, flavour: str, *, strict: bool
) -> tuple[DefFile, list[DefParseError]]:
    stages: list[Stage] = []
    errors: list[DefParseError] = []
    for first_line, chunk in split_stages(text):
        stage, stage_errors, empty = parse_stage(chunk, first_line, path=path, flavour=flavour)
        if empty:
            continue  # parser.All skips chunks that hold nothing (leading comments)
        if strict and stage_errors:
            raise stage_errors[0]
        errors.extend(stage_errors)
        stages.append(stage)
    if not stages:
        error = DefParseError(
            "no stages found in definition file", path=path, span=Span(1, 1, 1, 1), kind="no-stages"
        )
        if strict:
            raise error
        errors.append(error)
    return DefFile(path=path, text=text, stages=tuple(stages)), errors


def parse_text(data: Source, path: str = "<string>", *, flavour: str = "apptainer") -> DefFile:
    """Apptainer's `parser.All`; raises DefParseError where Apptainer rejects the file."""
    deffile, _ = _parse_all(decode(data, path), path, flavour, strict=True)
    return deffile


def parse_file(path: Union[str, os.PathLike[str]], *, flavour: str = "apptainer") -> DefFile:
    return parse_text(read_source(path), str(path), flavour=flavour)


def read_source(path: Union[str, os.PathLike[str]]) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise DefParseError(f"cannot read {path}: {exc.strerror}", path=str(path)) from None


def parse_single(data: Source, path: str = "<string>", *, flavour: str = "apptainer") -> Stage:
    """Apptainer's `parser.ParseDefinitionFile` on the whole text, as one stage."""
    text = decode(data, path)
    stage, errors, _ = parse_stage(text, 1, path=path, flavour=flavour)
    if errors:
        raise errors[0]
    return stage


def parse_lenient(
    data: Source, path: str = "<string>", *, flavour: str = "apptainer"
) -> tuple[Optional[DefFile], list[DefParseError]]:
    """A model even where Apptainer rejects the file, and every error found (file order)."""
    try:
        return _parse_all(decode(data, path), path, flavour, strict=False)
    except DefParseError as exc:  # undecodable text, or a stage the grammar rejects
        return None, [exc]
