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

import re
from dataclasses import dataclass, field
from pathlib import Path
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
    make_span,
)
from defkit.dockerfile.commands import BUILDERS, CommandError, split_flags
from defkit.dockerfile.errors import DockerfileParseError, ExpansionError
from defkit.dockerfile.heredoc import chomp, markers_in_line
from defkit.dockerfile.nodes import GO_SPACE_CHARS, Node, NodeError, NodeFields, node_fields
from defkit.model import Span

# bufio.Scanner's limit in BuildKit: a longer line is an error, not a silent split.
MAX_LINE_BYTES = 65535
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_KNOWN_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_KEYWORDS = ("add", "copy", "run")


def parse_file(path: Union[str, Path], *, strict: bool = True) -> Dockerfile:
    data = Path(path).read_bytes()
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
        # `lines`: physical lines without their line end (`raw_line` gives them with it: heredoc
        # bodies are kept byte for byte); `stripped`: also without trailing carriage returns.
        self.ends_with_newline = not lines[-1]
        if self.ends_with_newline:
            lines.pop()
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = lines
        self.stripped = [line.rstrip("\r") for line in lines] if "\r" in text else lines
        # A character takes at most 4 bytes in UTF-8 (an escaped byte takes 1): only a text with
        # a line longer than this can break BuildKit's line size limit.
        self.long_lines = len(text) > MAX_LINE_BYTES // 4 and any(
            len(line) > MAX_LINE_BYTES // 4 for line in lines
        )
        self.index = 0  # next physical line (0-based)
        self.directives = _Directives()
        self.escape = "\\"
        self.warnings: list[ParseWarning] = []

    def error(self, message: str, line: int, column: int = 1) -> DockerfileParseError:
        return DockerfileParseError(
            message, path=self.path, span=Span(line, column, line, column + 1)
        )

    def raw_line(self, index: int) -> str:
        """Physical line `index` (0-based) with its line end."""
        line = self.lines[index]
        return line + "\n" if index + 1 < len(self.lines) or self.ends_with_newline else line

    def check_size(self, line: str, number: int) -> None:
        """BuildKit's line size limit (bufio.Scanner's), for line `number` (1-based)."""
        if len(line) > MAX_LINE_BYTES // 4 and _byte_size(line) > MAX_LINE_BYTES:
            raise self.error(
                f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}", number
            )

    def next_line(self) -> str:
        """The next physical line without its line end; checks BuildKit's line size limit."""
        line = self.stripped[self.index]
        self.index += 1
        if self.long_lines:
            self.check_size(line, self.index)
        return line

    def run(self) -> Dockerfile:
        instructions: list[Instruction] = []
        lines = self.stripped
        count = len(lines)
        long_lines = self.long_lines
        index = self.read_directives()
        while index < count:
            line = lines[index]
            index += 1
            if long_lines:
                self.check_size(line, index)
            token = line.lstrip(GO_SPACE_CHARS)
            if not token or token[0] == "#":
                continue  # blank lines and comments
            self.index = index
            instructions.append(self.read_instruction(line, token))
            index = self.index
        if not instructions:
            raise self.error("file with no instructions", max(1, count))
        return self.assemble(tuple(instructions))

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

    def read_instruction(self, first: str, token: str) -> Instruction:
        """The instruction that starts on the line just read: `first`, `token` without its
        indentation (not blank, not a comment)."""
        escape = self.escape
        start_line = self.index
        start_column = len(first) - len(token) + 1
        last = token[-1]
        pieces: tuple[str, ...] = ()
        if last != escape and last != " " and last != "\t":
            logical = token  # no continuation: the common case
        else:
            pieces = self.continued(token, escape)
            logical = "".join(pieces)
            if len(pieces) == 1:
                pieces = ()
        try:
            fields = node_fields(logical, escape)
        except NodeError as exc:
            raise self.error(str(exc), start_line, start_column) from None
        heredocs = self.read_heredocs(fields, logical, start_line, start_column) if (
            "<<" in logical
        ) else ()
        end = self.index
        span = make_span(start_line, start_column, end, len(self.stripped[end - 1]) + 1)
        return self.instruction(fields, logical, heredocs, span, pieces)

    def continued(self, token: str, escape: str) -> tuple[str, ...]:
        """The pieces of the logical line that starts with `token`, continuation lines read."""
        content, ended = trim_continuation(token, escape)
        if ended:
            return (content,)
        parts = [content]
        empty_line: Optional[int] = None
        lines = self.stripped
        count = len(lines)
        long_lines = self.long_lines
        index = self.index
        while not ended and index < count:
            line = lines[index]
            index += 1
            if long_lines:
                self.check_size(line, index)
            lead = line.lstrip(GO_SPACE_CHARS)
            if not lead:
                empty_line = empty_line or index  # dropped, with a warning
                continue
            if lead[0] == "#":
                continue  # comment lines inside a continuation are dropped
            last = line[-1]
            if last != escape and last != " " and last != "\t":
                parts.append(line)
                break
            if last == escape and (len(line) == 1 or line[-2] != escape):
                parts.append(line[:-1])  # what trim_continuation gives, without the call
                continue
            content, ended = trim_continuation(line, escape)
            parts.append(content)
        self.index = index
        if empty_line is not None:
            self.warnings.append(
                ParseWarning(
                    f"Empty continuation line found in: {''.join(parts)}",
                    Span(empty_line, 1, empty_line, 1),
                )
            )
        return tuple(parts)

    def read_heredocs(
        self, fields: NodeFields, logical: str, start_line: int, start_column: int
    ) -> tuple[Heredoc, ...]:
        keyword, _, _, json_form, child = fields
        if keyword.lower() == "onbuild" and child:
            keyword, json_form = child.keyword, child.json_form
        if keyword.lower() not in _HEREDOC_KEYWORDS or json_form:
            return ()
        try:
            markers = markers_in_line(logical)
        except ExpansionError as exc:
            raise self.error(exc.message, start_line, start_column) from None
        heredocs = []
        for marker in markers:
            body: list[str] = []
            while True:
                if self.index >= len(self.stripped):
                    raise self.error("unterminated heredoc", start_line, start_column)
                candidate = self.next_line()
                raw = self.raw_line(self.index - 1)
                if marker.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == marker.name:
                    break
                body.append(raw)
            content = "".join(body)
            heredocs.append(
                Heredoc(
                    name=marker.name,
                    content=chomp(content) if marker.chomp else content,
                    expand=marker.expand,
                    chomp=marker.chomp,
                    file_descriptor=marker.file_descriptor,
                )
            )
        return tuple(heredocs)

    def instruction(
        self,
        fields: NodeFields,
        original: str,
        heredocs: tuple[Heredoc, ...],
        span: Span,
        pieces: tuple[str, ...] = (),
    ) -> Instruction:
        """The instruction of a node (given as its fields and `original` line)."""
        keyword, raw_flags, args, json_form, child = fields
        command: Optional[Command] = None
        lowered = keyword.lower()
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
        fields = (child.keyword, child.flags, child.args, child.json_form, child.child)
        return OnbuildCommand(self.instruction(fields, child.original, heredocs, span))

    def assemble(self, instructions: tuple[Instruction, ...]) -> Dockerfile:
        global_args: list[Instruction] = []
        stages: list[Stage] = []
        current: Optional[Instruction] = None
        body: list[Instruction] = []
        for instruction in instructions:
            if instruction.keyword == "FROM":
                if current is not None:
                    stages.append(self.stage(len(stages), current, body))
                current, body = instruction, []
            elif current is not None:
                body.append(instruction)
            elif isinstance(instruction.command, ArgCommand):
                global_args.append(instruction)
            elif self.strict:
                span = instruction.span
                raise self.error("no build stage in current context", span.line, span.column)
        if current is not None:
            stages.append(self.stage(len(stages), current, body))
        return Dockerfile(
            path=self.path,
            directives=dict(self.directives.values),
            escape=self.escape,
            instructions=instructions,
            stages=tuple(stages),
            global_args=tuple(global_args),
            warnings=tuple(self.warnings),
        )

    def stage(self, index: int, from_: Instruction, body: list[Instruction]) -> Stage:
        command = from_.command
        name = command.stage_name if isinstance(command, FromCommand) else None
        return Stage(index, name, from_, tuple(body))


def _byte_size(line: str) -> int:
    return len(line.encode("utf-8", errors="surrogateescape"))
