"""One stage: the Lark tree of its lines turned into the model, with Apptainer's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from lark import Token, Transformer

from defkit import sections as bodies
from defkit.errors import DefParseError
from defkit.gotext import trim_space
from defkit.header import parse_header
from defkit.line_lexer import scan
from defkit.model import (
    STANDARD_SECTIONS,
    HeaderEntry,
    Section,
    Span,
    Stage,
)
from defkit.scanner import MAX_TOKEN_SIZE, Line


class _Groups(Transformer[Token, Any]):
    """Tree -> [("header" or "section", line numbers within the stage), ...]."""

    def header(self, children: list[Token]) -> tuple[str, list[int]]:
        return ("header", _numbers(children))

    def section(self, children: list[Token]) -> tuple[str, list[int]]:
        return ("section", _numbers(children))

    def start(self, children: list[tuple[str, list[int]]]) -> list[tuple[str, list[int]]]:
        return children


def _numbers(tokens: list[Token]) -> list[int]:
    """The line numbers a group of block tokens covers."""
    numbers: list[int] = []
    for token in tokens:
        assert token.line is not None and token.end_line is not None  # set by LineLexer
        numbers.extend(range(token.line, token.end_line + 1))
    return numbers


@dataclass
class _StageBuilder:
    chunk: str
    first_line: int
    path: str
    flavour: str
    errors: list[DefParseError] = field(default_factory=list)

    def shift(self, line: Line) -> Line:
        number = line.number + self.first_line - 1
        return Line(number, line.text, line.raw_size, line.starts_section)

    def error(self, message: str, span: Span, kind: str) -> None:
        self.errors.append(DefParseError(message, path=self.path, span=span, kind=kind))

    def build(self) -> tuple[Stage, bool]:
        from defkit.parser import lark_parser

        lines = [self.shift(line) for line in scan(self.chunk)]
        tree = lark_parser().parse(self.chunk) if lines else None
        groups = [
            (kind, [lines[number - 1] for number in numbers])
            for kind, numbers in (_Groups().transform(tree) if tree is not None else [])
        ]
        header: tuple[HeaderEntry, ...] = ()
        sections: list[Section] = []
        for index, (kind, group) in enumerate(groups):
            if self._too_long(groups, index):
                self.error(
                    "bufio.Scanner: token too long (Apptainer reads at most 64 KiB per section, "
                    "including the next section line)",
                    bodies.line_span(group[0]),
                    "token-too-long",
                )
            if kind == "header":
                if trim_space("".join(line.text + "\n" for line in group)):
                    header, errors = parse_header(group, path=self.path, flavour=self.flavour)
                    self.errors.extend(errors)
            else:
                section = self.section(group, trimmed=index == 0)
                if section is not None:
                    sections.append(section)
        self.check_names(sections)
        end = lines[-1] if lines else Line(self.first_line, "", 0, False)
        stage = Stage(
            header=header,
            sections=tuple(sections),
            raw=self.chunk,
            span=Span(self.first_line, 1, end.number, len(end.text) + 1),
        )
        return stage, _is_empty(stage)

    def _too_long(self, groups: Sequence[tuple[str, list[Line]]], index: int) -> bool:
        size = sum(line.raw_size for line in groups[index][1])
        if index + 1 < len(groups):
            # The scanner must hold the whole next section line to end this token.
            return size + groups[index + 1][1][0].raw_size > MAX_TOKEN_SIZE
        return size > MAX_TOKEN_SIZE - 1  # at EOF the buffer needs one byte to spare

    def section(self, group: list[Line], *, trimmed: bool) -> Optional[Section]:
        return bodies.build_section(group, trimmed=trimmed, path=self.path, errors=self.errors)

    def check_names(self, sections: Sequence[Section]) -> None:
        invalid = [section for section in sections if not section.is_known]
        if not invalid:
            return
        names: list[str] = []
        for section in invalid:
            key = custom_key(section)
            if key not in names:
                names.append(key)
        self.error(
            "invalid section(s) specified: " + ", ".join(names),
            invalid[0].header_span,
            "invalid-section",
        )


def custom_key(section: Section) -> str:
    """The key Apptainer files a non-standard section under in `customData`."""
    if section.app is not None:
        return f"{section.written_name} {section.app}"
    return section.name


def _is_empty(stage: Stage) -> bool:
    """Apptainer's isEmpty: nothing but raw text was parsed."""
    if stage.header or bodies.labels_map(stage.script("labels")):
        return False
    for section in stage.sections:
        if section.name not in STANDARD_SECTIONS or section.app is not None:
            return False
        if section.name == "files":
            return False
        # The %labels script itself is not kept, only the labels parsed from it.
        if section.name != "labels" and (section.body or section.args):
            return False
    return True


def parse_stage(
    chunk: str, first_line: int, *, path: str, flavour: str
) -> tuple[Stage, list[DefParseError], bool]:
    """(stage, errors in Apptainer's order, whether Apptainer calls it empty)."""
    builder = _StageBuilder(chunk, first_line, path, flavour)
    stage, empty = builder.build()
    errors = builder.errors
    if empty and not errors:
        errors = [
            DefParseError(
                "empty definition file",
                path=path,
                span=Span(first_line, 1, first_line, 1),
                kind="empty",
            )
        ]
    return stage, errors, empty and len(errors) == 1 and errors[0].kind == "empty"
