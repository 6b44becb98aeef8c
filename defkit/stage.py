"""One stage: the Lark tree of its lines turned into the model, with Apptainer's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from lark import Token, Transformer

from defkit import sections as bodies
from defkit.errors import DefParseError
from defkit.gotext import leading_space, trim_space
from defkit.header import parse_header
from defkit.line_lexer import scan
from defkit.model import (
    APP_SECTIONS,
    STANDARD_SECTIONS,
    HeaderEntry,
    Section,
    Span,
    Stage,
)
from defkit.scanner import MAX_TOKEN_SIZE, Line


class _Groups(Transformer[Token, Any]):
    """Tree -> (header lines or None, [section lines, ...]) as line numbers within the stage."""

    def header_line(self, children: list[Token]) -> Token:
        return children[0]

    def body_line(self, children: list[Token]) -> Token:
        return children[0]

    def header(self, children: list[Token]) -> tuple[str, list[int]]:
        return ("header", [token.line for token in children])  # type: ignore[misc]

    def section(self, children: list[Token]) -> tuple[str, list[int]]:
        return ("section", [token.line for token in children])  # type: ignore[misc]

    def start(self, children: list[tuple[str, list[int]]]) -> list[tuple[str, list[int]]]:
        return children


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
                    _line_span(group[0]),
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
        first = group[0]
        column = 1
        if trimmed:
            # A stage that starts with a section: Apptainer TrimSpaces the whole token.
            token = trim_space("".join(line.text + "\n" for line in group))
            line_text, newline, body = token.partition("\n")
            column = leading_space(first.text) + 1
            if not newline:
                self.error(
                    f"section {line_text}: could not be split into section name and body",
                    _line_span(first),
                    "section-split",
                )
        else:
            line_text = first.text
            body = "".join(line.text + "\n" for line in group[1:])
        header_span = Span(first.number, column, first.number, len(first.text) + 1)
        last = group[-1]
        span = Span(first.number, column, last.number, len(last.text) + 1)
        name = bodies.section_name(line_text)
        body_line = first.number + 1
        if name in APP_SECTIONS:
            parts = bodies.written_parts(line_text, 3)
            if len(parts) < 2:
                self.error(
                    f"app section {parts[0]}: could not be split into section name and app name",
                    header_span,
                    "app-section-split",
                )
                return None
            return Section(
                name=name, args="", app=parts[1], body=body, span=span, header_span=header_span,
                body_line=body_line, written_name=parts[0],
                files=self.files(body, body_line) if name == "appfiles" else (),
                labels=bodies.labels(body, body_line) if name == "applabels" else (),
            )
        parts = bodies.written_parts(line_text, 2)
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
            files=self.files(body, body_line) if name == "files" else (),
            labels=bodies.labels(body, body_line) if name == "labels" else (),
            arguments=bodies.arguments(body, body_line) if name == "arguments" else (),
        )

    def files(self, body: str, body_line: int) -> tuple[Any, ...]:
        entries, errors = bodies.file_entries(body, body_line, path=self.path)
        self.errors.extend(errors)
        return entries

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


def _line_span(line: Line) -> Span:
    return Span(line.number, 1, line.number, len(line.text) + 1)


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
