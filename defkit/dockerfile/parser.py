"""Dockerfile text -> `Dockerfile` record, following BuildKit's parser line by line.

The scanner reads physical lines the way BuildKit's does:

* parser directives (`# syntax=`, `# escape=`, `# check=`) count only before anything else; the
  first line that is not one (blank line, other comment, instruction) ends them;
* a line ending in the escape character (then optional blanks) continues on the next line; comment
  lines and blank lines inside a continuation are dropped;
* a RUN/COPY/ADD (also under ONBUILD) whose line holds `<<WORD` markers takes the following lines
  as here-document bodies, up to each terminator line in turn.

Each logical line then goes through `nodes.node_fields` (BuildKit's parser: `parse_node`'s fields,
without the Node record) and, unless `strict=False`, the keyword's builder in `commands.BUILDERS`
(BuildKit's instruction parser). `strict=False` accepts what only the parser accepts (unknown
instructions or flags: `command` is None), which is what BuildKit's parser tests expect.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional, Union

from defkit.dockerfile.ast import (
    ArgCommand,
    Command,
    Dockerfile,
    Flag,
    FromCommand,
    Heredoc,
    Instruction,
    OnbuildCommand,
    ParseWarning,
    Stage,
)
from defkit.dockerfile.commands import BUILDERS, CommandError, split_flags
from defkit.dockerfile.errors import DockerfileParseError, ExpansionError
from defkit.dockerfile.heredoc import chomp, markers_in_line
from defkit.dockerfile.nodes import Node, NodeError, NodeFields, node_fields
from defkit.gotext import GO_SPACE_CHARS
from defkit.model import Span

# bufio.Scanner's limit in BuildKit: a longer line is an error, not a silent split.
MAX_LINE_BYTES = 65535
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_KNOWN_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_KEYWORDS = ("add", "copy", "run")
#: Physical lines without their line end, with their numbers (from 1).
_NumberedLines = Iterator[tuple[int, str]]


def parse_file(path: Union[str, os.PathLike[str]], *, strict: bool = True) -> Dockerfile:
    with open(path, "rb") as stream:
        data = stream.read()
    return parse(data.decode("utf-8", errors="surrogateescape"), str(path), strict=strict)


def parse(text: str, path: str = "<string>", *, strict: bool = True) -> Dockerfile:
    """Parse Dockerfile source. Raises DockerfileParseError (path:line:col) where BuildKit fails."""
    return _Parser(text, path, strict).run()


@dataclass
class _Directives:
    """BuildKit's DirectiveParser: directives only until the first line that is not one."""

    values: dict[str, str] = field(default_factory=dict)
    done: bool = False

    def feed(self, line: str) -> Optional[tuple[str, str]]:
        if self.done:
            return None
        if not line.startswith("#"):
            self.done = True
            return None
        match = _DIRECTIVE.match(line[1:].lstrip(GO_SPACE_CHARS))
        if match is None or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            self.done = True
            return None
        name = match.group(1).lower()
        if name in self.values:
            raise ValueError(f"only one {name} parser directive can be used")
        self.values[name] = match.group(2)
        return name, match.group(2)


def trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """The line without its continuation character, and whether the logical line ends.

    BuildKit's lineContinuationRegex, `([^E])E[ \\t]*$|^E[ \\t]*$`: the escape character last on
    the line (blanks after it allowed) unless it is itself escaped, or alone on its line."""
    stripped = line.rstrip(" \t")
    if not stripped.endswith(escape):
        return line, True
    if len(stripped) == 1:
        return "", False
    if stripped[-2] == escape:
        return line, True
    return stripped[:-1], False


class _Parser:
    def __init__(self, text: str, path: str, strict: bool) -> None:
        self.path = path
        self.strict = strict
        lines = text.split("\n")
        # `lines`: physical lines without their line end (heredoc bodies are kept byte for byte:
        # with their line ends, carriage returns included); `stripped`: also without trailing
        # carriage returns.
        if not lines[-1]:
            lines.pop()  # the text ends with a line end
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = lines
        self.stripped = [line.rstrip("\r") for line in lines] if "\r" in text else lines
        # A character takes at most 4 bytes in UTF-8 (an escaped byte takes 1): only a text with
        # a line longer than this can break BuildKit's line size limit.
        # (`max`: a C loop; any() over a generator resumes Python code for each line.)
        limit = MAX_LINE_BYTES // 4
        self.long_lines = len(text) > limit and max(map(len, lines), default=0) > limit
        self.directives = _Directives()
        self.escape = "\\"
        self.warnings: list[ParseWarning] = []

    def error(self, message: str, line: int, column: int = 1) -> DockerfileParseError:
        return DockerfileParseError(
            message, path=self.path, span=Span(line, column, line, column + 1)
        )

    def size_checked(self, numbered: _NumberedLines) -> _NumberedLines:
        """`numbered`, each line checked by `check_size` as it is read (when the text has a line
        long enough to matter: the readers of lines then need no test of their own)."""
        for number, line in numbered:
            self.check_size(line, number)
            yield number, line

    def check_size(self, line: str, number: int) -> None:
        """BuildKit's line size limit (bufio.Scanner's), for line `number` (1-based)."""
        if len(line) > MAX_LINE_BYTES // 4 and _byte_size(line) > MAX_LINE_BYTES:
            raise self.error(
                f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}", number
            )

    def run(self) -> Dockerfile:
        instructions: list[Instruction] = []
        froms: list[int] = []  # where the FROM instructions are in `instructions`
        lines = self.stripped
        first = self.read_directives()
        escape = self.escape  # as the directives set it
        # The physical lines from there on, numbered from 1. `continued` and `read_heredocs` take
        # the lines they read from this same iterator: the loop then goes on after them.
        numbered: _NumberedLines = enumerate(lines[first:], first + 1)
        if self.long_lines:
            numbered = self.size_checked(numbered)
        for number, line in numbered:
            token = line.lstrip(GO_SPACE_CHARS)
            if not token or token[0] == "#":
                continue  # blank lines and comments
            start_column = len(line) - len(token) + 1
            # An instruction starts here; `end` is the number of its last line.
            pieces, end = self.continued(token, escape, numbered, number)
            logical = "".join(pieces)
            if len(pieces) == 1:
                pieces = ()
            try:
                fields = node_fields(logical, escape)
            except NodeError as exc:
                raise self.error(str(exc), number, start_column) from None
            heredocs: tuple[Heredoc, ...] = ()
            if "<<" in logical:
                heredocs, end = self.read_heredocs(
                    fields, logical, number, start_column, numbered, end
                )
            span = Span(number, start_column, end, len(lines[end - 1]) + 1)
            instruction = self.instruction(fields, logical, heredocs, span, pieces)
            if instruction.keyword == "FROM":
                froms.append(len(instructions))
            instructions.append(instruction)
        if not instructions:
            raise self.error("file with no instructions", max(1, len(lines)))
        return self.assemble(tuple(instructions), froms)

    def read_directives(self) -> int:
        """Feeds the first lines to the directive parser; the index of the first other line
        (which `run` then reads like any line: a blank line, a comment or an instruction)."""
        directives = self.directives
        for index, line in enumerate(self.stripped):
            if self.long_lines:
                self.check_size(line, index + 1)
            try:
                directive = directives.feed(line.lstrip(GO_SPACE_CHARS))
            except ValueError as exc:
                raise self.error(str(exc), index + 1) from None
            if directive is None:
                return index
            if directive[0] == "escape":
                if directive[1] not in ("\\", "`"):
                    raise self.error(
                        f"invalid escape token '{directive[1]}' does not match ` or \\",
                        index + 1,
                    )
                self.escape = directive[1]
        return len(self.stripped)

    def continued(
        self, token: str, escape: str, numbered: _NumberedLines, number: int
    ) -> tuple[tuple[str, ...], int]:
        """The pieces of the logical line that starts with `token` (on line `number`), and the
        number of its last line: the continuation lines are read from `numbered`."""
        content, ended = trim_continuation(token, escape)
        if ended:
            return (content,), number
        parts = [content]
        empty_line: Optional[int] = None
        for number, line in numbered:  # `number`: the last line read
            if not line:
                empty_line = empty_line or number  # dropped, with a warning
                continue
            lead = line.lstrip(GO_SPACE_CHARS)
            if not lead:
                empty_line = empty_line or number
                continue
            if lead[0] == "#":
                continue  # comment lines inside a continuation are dropped
            content, ended = trim_continuation(line, escape)
            parts.append(content)
            if ended:
                break
        if empty_line is not None:
            self.warnings.append(
                ParseWarning(
                    f"Empty continuation line found in: {''.join(parts)}",
                    Span(empty_line, 1, empty_line, 1),
                )
            )
        return tuple(parts), number

    def read_heredocs(
        self,
        fields: NodeFields,
        logical: str,
        start_line: int,
        start_column: int,
        numbered: _NumberedLines,
        number: int,
    ) -> tuple[tuple[Heredoc, ...], int]:
        """The heredocs of the instruction whose last line is `number`, their lines read from
        `numbered`, and the number of the last line read."""
        _, lowered, _, _, json_form, child = fields
        if lowered == "onbuild" and child:
            lowered, json_form = child.keyword.lower(), child.json_form
        if lowered not in _HEREDOC_KEYWORDS or json_form:
            return (), number
        try:
            markers = markers_in_line(logical)
        except ExpansionError as exc:
            raise self.error(exc.message, start_line, start_column) from None
        heredocs = []
        for marker in markers:
            before = number  # the body starts after this line
            for number, candidate in numbered:  # noqa: B007 - `number`: the last line read
                if marker.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == marker.name:
                    break
            else:
                raise self.error("unterminated heredoc", start_line, start_column)
            # The lines between (carriage returns kept), each with its line end: every one has
            # one, as the terminator line follows it.
            body = self.lines[before : number - 1]
            content = "\n".join(body) + "\n" if body else ""
            heredocs.append(
                Heredoc(
                    name=marker.name,
                    content=chomp(content) if marker.chomp else content,
                    expand=marker.expand,
                    chomp=marker.chomp,
                    file_descriptor=marker.file_descriptor,
                )
            )
        return tuple(heredocs), number

    def instruction(
        self,
        fields: NodeFields,
        original: str,
        heredocs: tuple[Heredoc, ...],
        span: Span,
        pieces: tuple[str, ...] = (),
    ) -> Instruction:
        """The instruction of a node (given as its fields and `original` line)."""
        keyword, lowered, raw_flags, args, json_form, child = fields
        command: Optional[Command] = None
        flags = split_flags(raw_flags) if raw_flags else ()  # once, for command and instruction
        builder = BUILDERS.get(lowered)
        if builder is not None:
            try:
                command = builder(keyword, args, json_form, flags, heredocs)
            except CommandError as exc:
                if self.strict:
                    raise self.error(str(exc), span.line, span.column) from None
        elif lowered == "onbuild":
            command = self.onbuild(child, flags, heredocs, span)
        elif self.strict:
            raise self.error(f"unknown instruction: {keyword}", span.line, span.column)
        return Instruction(
            keyword.upper(),
            original,
            args,
            flags,
            json_form,
            heredocs,
            span,
            command,
            pieces,
        )

    def onbuild(
        self,
        child: Optional[Node],
        flags: tuple[Flag, ...],
        heredocs: tuple[Heredoc, ...],
        span: Span,
    ) -> Optional[OnbuildCommand]:
        problem: Optional[str] = None
        if child is None:
            problem = "ONBUILD requires at least one argument"
        elif flags:
            problem = f"unknown flag: --{flags[0].name}"
        else:
            trigger = child.keyword.upper()
            if trigger == "ONBUILD":
                problem = "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
            elif trigger in ("MAINTAINER", "FROM"):
                problem = f"{trigger} isn't allowed as an ONBUILD trigger"
        if problem is not None:
            if self.strict:
                raise self.error(problem, span.line, span.column)
            if child is None:
                return None
        assert child is not None
        fields = (
            child.keyword, child.keyword.lower(), child.flags, child.args, child.json_form,
            child.child,
        )
        return OnbuildCommand(self.instruction(fields, child.original, heredocs, span))

    def assemble(self, instructions: tuple[Instruction, ...], froms: list[int]) -> Dockerfile:
        """The Dockerfile of `instructions`, the FROMs at positions `froms`: a stage is a FROM and
        the instructions after it up to the next FROM (a slice of `instructions`)."""
        global_args: list[Instruction] = []
        for instruction in instructions[: froms[0]] if froms else instructions:
            if isinstance(instruction.command, ArgCommand):
                global_args.append(instruction)
            elif self.strict:
                span = instruction.span
                raise self.error("no build stage in current context", span.line, span.column)
        ends = froms[1:]
        ends.append(len(instructions))
        stages = []
        for number, start in enumerate(froms):
            body = instructions[start + 1 : ends[number]]
            stages.append(self.stage(number, instructions[start], body))
        return Dockerfile(
            path=self.path,
            directives=dict(self.directives.values),
            escape=self.escape,
            instructions=instructions,
            stages=tuple(stages),
            global_args=tuple(global_args),
            warnings=tuple(self.warnings),
        )

    def stage(self, index: int, from_: Instruction, body: tuple[Instruction, ...]) -> Stage:
        command = from_.command
        name = command.stage_name if isinstance(command, FromCommand) else None
        return Stage(index, name, from_, body)


def _byte_size(line: str) -> int:
    return len(line.encode("utf-8", errors="surrogateescape"))
