"""One stage: Lark parses its lines with `grammar/deffile.lark`, a transformer builds the model.

The transformer applies Apptainer's semantics to the tree: header entries (`defkit.header`),
section lines and entries (`defkit.sections`), the 64 KiB limit of Apptainer's scanner, the
check of section names and of empty stages. Errors are collected, not raised, so that the
linter gets a model and every error; `parse_stage` returns them in Apptainer's order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Optional, TypeVar, Union

from defkit import sections
from defkit._generated_parser import (
    Lark,
    Lark_StandAlone,
    Meta,
    Token,
    Transformer,
    Tree,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
    v_args,
)
from defkit.errors import DefParseError
from defkit.header import parse_header
from defkit.line_lexer import lex
from defkit.model import (
    STANDARD_SECTIONS,
    Argument,
    FileEntry,
    HeaderEntry,
    Label,
    Section,
    Span,
    Stage,
)
from defkit.sections import MAX_TOKEN_SIZE

T = TypeVar("T")


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser of `grammar/deffile.lark`: Lark's standalone parser, generated from the
    grammar at build time (hatch_build.py), loaded once per process. (Lark leaves the
    generated functions unannotated.)"""
    parser: Lark = Lark_StandAlone()  # type: ignore[no-untyped-call]
    return parser


def parse_tree(chunk: str) -> Tree[Token]:
    """Lark's tree of one stage: its lines, as `defkit.line_lexer` cuts and types them, fed to
    the parser one token at a time."""
    parser = lark_parser().parse_interactive()
    last = None
    for last in lex(chunk):
        parser.feed_token(last)
    tree: Tree[Token] = parser.feed_eof(last)  # type: ignore[no-untyped-call]
    return tree


class _Part(NamedTuple):
    """One token of Apptainer's scanner (the header, or a section) as the transformer read it."""

    head: Token  # its first line
    size: int  # bytes it takes in the stage's text, line ends included
    header: tuple[HeaderEntry, ...]
    section: Optional[Section]  # None for the header, and for an app section without an app
    errors: list[DefParseError]


@dataclass(frozen=True)
class _Entry(Generic[T]):
    """An entry line of `%files`, `%labels` or `%arguments`, and what Apptainer reads in it."""

    line: Token
    value: T


#: A section's children: its section line, then its body lines (entries transformed).
_Children = list[Union[Token, _Entry[T]]]


@v_args(meta=True)
class _StageBuilder(Transformer[Token, tuple[Stage, list[DefParseError]]]):
    """The tree of one stage -> (Stage, errors in Apptainer's order)."""

    def __init__(self, text: str, first_line: int, path: str, flavour: str) -> None:
        super().__init__(visit_tokens=False)  # tokens are read by the rules that hold them
        self.text = text
        self.first_line = first_line
        self.path = path
        self.flavour = flavour

    def number(self, line: Token) -> int:
        """The line's number in the file (tokens count from the stage's first line)."""
        assert line.line is not None  # set by LineLexer
        return line.line + self.first_line - 1

    def size(self, start: Optional[int], end: Optional[int]) -> int:
        return len(self.text[start:end].encode("utf-8"))

    def header(self, meta: Meta, children: list[Token]) -> _Part:
        numbered = [(self.number(line), line.value) for line in children]
        entries, errors = parse_header(numbered, path=self.path, flavour=self.flavour)
        return _Part(children[0], self.size(meta.start_pos, meta.end_pos), entries, None, errors)

    def file_entry(
        self, meta: Meta, children: list[Token]
    ) -> _Entry[Union[FileEntry, DefParseError]]:
        (line,) = children
        return _Entry(line, sections.file_entry(self.number(line), line.value, path=self.path))

    def label(self, meta: Meta, children: list[Token]) -> _Entry[Label]:
        (line,) = children
        return _Entry(line, sections.label(self.number(line), line.value))

    def argument(self, meta: Meta, children: list[Token]) -> _Entry[Optional[Argument]]:
        (line,) = children
        return _Entry(line, sections.argument(self.number(line), line.value))

    def plain_section(self, meta: Meta, children: _Children[None]) -> _Part:
        head, body = _split(children)
        return self._section(meta, head, body)

    def files_section(
        self, meta: Meta, children: _Children[Union[FileEntry, DefParseError]]
    ) -> _Part:
        head, body = _split(children)
        return self._section(meta, head, body, files=_values(body))

    def labels_section(self, meta: Meta, children: _Children[Label]) -> _Part:
        head, body = _split(children)
        return self._section(meta, head, body, labels=_values(body))

    def arguments_section(self, meta: Meta, children: _Children[Optional[Argument]]) -> _Part:
        head, body = _split(children)
        arguments = [found for found in _values(body) if found is not None]  # others skipped
        return self._section(meta, head, body, arguments=arguments)

    def _section(
        self,
        meta: Meta,
        head: Token,
        body: Sequence[Union[Token, _Entry[T]]],
        files: Sequence[Union[FileEntry, DefParseError]] = (),
        labels: Sequence[Label] = (),
        arguments: Sequence[Argument] = (),
    ) -> _Part:
        assert meta.end_line is not None and meta.end_column is not None
        section, errors = sections.build_section(
            head.value,
            self.number(head),
            [item.line.value if isinstance(item, _Entry) else item.value for item in body],
            (meta.end_line + self.first_line - 1, meta.end_column),
            first=head.start_pos == 0,  # the stage starts with it: Apptainer trims it
            path=self.path,
            files=files,
            labels=labels,
            arguments=arguments,
        )
        return _Part(head, self.size(meta.start_pos, meta.end_pos), (), section, errors)

    def start(self, meta: Meta, parts: list[_Part]) -> tuple[Stage, list[DefParseError]]:
        errors: list[DefParseError] = []
        header: tuple[HeaderEntry, ...] = ()
        built: list[Section] = []
        for index, part in enumerate(parts):
            following = parts[index + 1].head if index + 1 < len(parts) else None
            if self.too_long(part, following):
                errors.append(
                    DefParseError(
                        "bufio.Scanner: token too long (Apptainer reads at most 64 KiB per "
                        "section, including the next section line)",
                        path=self.path,
                        span=sections.line_span(self.number(part.head), part.head.value),
                        kind="token-too-long",
                    )
                )
            errors.extend(part.errors)
            header += part.header  # (only the header part has entries)
            if part.section is not None:
                built.append(part.section)
        errors.extend(self.invalid_names(built))
        if meta.empty:
            span = Span(self.first_line, 1, self.first_line, 1)
        else:
            assert meta.end_line is not None and meta.end_column is not None
            span = Span(self.first_line, 1, meta.end_line + self.first_line - 1, meta.end_column)
        stage = Stage(header=header, sections=tuple(built), raw=self.text, span=span)
        return stage, errors

    def too_long(self, part: _Part, following: Optional[Token]) -> bool:
        if following is not None:
            # The scanner must hold the whole next section line to end this token.
            return part.size + self.size(following.start_pos, following.end_pos) > MAX_TOKEN_SIZE
        return part.size > MAX_TOKEN_SIZE - 1  # at EOF the buffer needs one byte to spare

    def invalid_names(self, built: Sequence[Section]) -> list[DefParseError]:
        invalid = [section for section in built if not section.is_known]
        if not invalid:
            return []
        names = list(dict.fromkeys(custom_key(section) for section in invalid))
        message = "invalid section(s) specified: " + ", ".join(names)
        span = invalid[0].header_span
        return [DefParseError(message, path=self.path, span=span, kind="invalid-section")]


def _split(children: _Children[T]) -> tuple[Token, _Children[T]]:
    """A section's line and its body lines."""
    head = children[0]
    assert isinstance(head, Token)  # the grammar starts every section with its line
    return head, children[1:]


def _values(body: _Children[T]) -> list[T]:
    """What the entry lines of a body say, in file order."""
    return [item.value for item in body if isinstance(item, _Entry)]


def custom_key(section: Section) -> str:
    """The key Apptainer files a non-standard section under in `customData`."""
    if section.app is not None:
        return f"{section.written_name} {section.app}"
    return section.name


def _is_empty(stage: Stage) -> bool:
    """Apptainer's isEmpty: nothing but raw text was parsed."""
    if stage.header or sections.labels_map(stage.script("labels")):
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


def syntax_error(exc: UnexpectedInput, *, path: str, first_line: int) -> DefParseError:
    """Lark's error as a positioned DefParseError. The grammar accepts every sequence of lines
    the lexer gives (Apptainer rejects a file for what its lines say, never for their order),
    so this means the two disagree: a defkit bug, reported with its place, not a traceback."""
    line = exc.line + first_line - 1 if exc.line > 0 else first_line
    column = max(exc.column, 1)
    if isinstance(exc, UnexpectedToken):
        expected = ", ".join(sorted(exc.expected))
        message = f"the grammar does not expect a {exc.token.type} here (expected: {expected})"
    else:
        message = f"the grammar does not accept this stage ({type(exc).__name__})"
    return DefParseError(message, path=path, span=Span(line, column, line, column), kind="syntax")


def parse_stage(
    chunk: str, first_line: int, *, path: str, flavour: str
) -> tuple[Stage, list[DefParseError], bool]:
    """(stage, errors in Apptainer's order, whether Apptainer calls it empty).

    Raises DefParseError only where the grammar rejects the stage (see `syntax_error`)."""
    try:
        tree = parse_tree(chunk)
    except UnexpectedInput as exc:
        raise syntax_error(exc, path=path, first_line=first_line) from None
    try:
        stage, errors = _StageBuilder(chunk, first_line, path, flavour).transform(tree)
    except VisitError as exc:  # a method failed: show what failed, not Lark's wrapper
        raise exc.orig_exc from None
    empty = _is_empty(stage)
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
