"""A small writer for the .def text the converter produces (not the canonical `defkit fmt` layout).

A stage is collected into a `StagePlan` while the Dockerfile is walked, then written in the order
Apptainer runs the parts (deffile.md §9): %arguments, %files from, %files, %setup, %post, then the
run-time metadata. Script lines are indented for reading, except "raw" lines (here-document bodies
and terminators), which must stay byte-exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from defkit.convert.shell import PLACEHOLDER
from defkit.writer import INDENT, argument_line, files_line, header_line, label_line

if TYPE_CHECKING:
    from defkit.model import Section

BLOCK_INDENT = INDENT + INDENT  # a RUN's subshell body


@dataclass
class Script:
    """Lines of one script section, kept as they are written: `add` indents a line (an empty
    one stays empty), `add_raw` keeps it byte for byte. An entry of `lines` may hold several
    lines (a raw block such as a here-document body is kept as one string, not split only to
    be joined again): the section is the entries joined with line breaks."""

    lines: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        for line in lines:
            self.lines.append(INDENT + line if line else "")

    def add_raw(self, *lines: str) -> None:
        self.lines.extend(lines)

    def copy(self) -> Script:
        return Script(list(self.lines))

    def __bool__(self) -> bool:
        return bool(self.lines)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass
class Block:
    """Lines written into a Script one level deeper (the body of a RUN's subshell). The body is
    indented as a whole, so an empty line keeps its indentation too."""

    lines: list[str]

    def add(self, *lines: str) -> None:
        for line in lines:
            self.lines.append(BLOCK_INDENT + line)

    def add_raw(self, *lines: str) -> None:
        self.lines.extend(lines)


def indented_block(text: str) -> str:
    """The lines of `text` (without its final line break) as `Script.add` would write them,
    as one entry for `Script.add_raw`."""
    return "\n".join([INDENT + line if line else "" for line in text.rstrip("\n").split("\n")])


@dataclass
class StagePlan:
    """Everything one Apptainer stage will contain."""

    name: str
    header: list[tuple[str, str]] = field(default_factory=list)
    header_comments: list[str] = field(default_factory=list)
    arguments: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str]] = field(default_factory=list)
    files_from: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    setup: Script = field(default_factory=Script)
    post: Script = field(default_factory=Script)
    post_prologue: Script = field(default_factory=Script)  # helper functions, written first
    post_epilogue: Script = field(default_factory=Script)  # clean-up, written last
    environment: Script = field(default_factory=Script)
    runscript: Optional[Script] = None
    labels: dict[str, str] = field(default_factory=dict)
    help: list[str] = field(default_factory=list)

    def copy(self) -> StagePlan:
        return StagePlan(
            self.name, list(self.header), list(self.header_comments), dict(self.arguments),
            list(self.files), {k: list(v) for k, v in self.files_from.items()},
            self.setup.copy(), self.post.copy(), self.post_prologue.copy(),
            self.post_epilogue.copy(), self.environment.copy(),
            self.runscript.copy() if self.runscript is not None else None,
            dict(self.labels), list(self.help),
        )

    def sections(self) -> list[tuple[str, str]]:
        """(section line, body) in the order they are written; the header first, as ("", text).

        %arguments keeps only the names some `{{ NAME }}` of the other sections uses; the
        others are dropped from `arguments` too (the self-check compares with it)."""
        parts = self._parts()
        if self.arguments:
            used = placeholders(parts)
            # Placeholders in the values of those used (a derived default, `cu{{ MAJOR }}`).
            used |= placeholders([("", self.arguments[name]) for name in used
                                  if name in self.arguments])
            self.arguments = {name: v for name, v in self.arguments.items() if name in used}
        if self.arguments:
            body = _lines(argument_line(key, value) for key, value in self.arguments.items())
            parts.insert(1, ("%arguments", body))
        return parts

    def _parts(self) -> list[tuple[str, str]]:
        """The sections apart from %arguments."""
        header = "\n".join([header_line(key, value) for key, value in self.header])
        comments = "".join([f"# {comment}\n" for comment in self.header_comments])
        parts = [("", header + "\n" + comments)]
        for stage, entries in self.files_from.items():
            parts.append((f"%files from {stage}", _files_body(entries)))
        if self.files:
            parts.append(("%files", _files_body(self.files)))
        if self.setup.lines:
            parts.append(("%setup", self.setup.render()))
        post = self.post_prologue.lines + self.post.lines + self.post_epilogue.lines
        if post:
            parts.append(("%post", "\n".join(post) + "\n"))
        if self.environment.lines:
            parts.append(("%environment", self.environment.render()))
        if self.runscript is not None:
            parts.append(("%runscript", self.runscript.render()))
        if self.labels:
            body = _lines(label_line(key, value) for key, value in self.labels.items())
            parts.append(("%labels", body))
        if self.help:
            parts.append(("%help", _lines(INDENT + line for line in self.help)))
        return parts


def placeholders(sections: list[tuple[str, str]]) -> set[str]:
    """The NAMEs of the `{{ NAME }}` placeholders in the bodies of `sections`."""
    return set(PLACEHOLDER.findall("".join([body for _line, body in sections])))


def _files_body(entries: list[tuple[str, str]]) -> str:
    return _lines(files_line(source, destination) for source, destination in entries)


def _lines(lines: Iterable[str]) -> str:
    """A section body: each line ended by a line break."""
    return "".join(line + "\n" for line in lines)


def render_def(stages: list[StagePlan], preamble: list[str], *, check: bool = False) -> str:
    """The whole .def: comment lines, then each stage (stages are split at `Bootstrap:`).

    With `check`, the text is read back by defkit's .def parser (see `check_rendered`)."""
    head = "".join(f"# {line}\n" if line else "#\n" for line in preamble)
    rendered = [(stage, stage.sections()) for stage in stages]
    # (Stages, like the sections of a stage, are separated by an empty line.)
    text = head + "\n".join([f"{line}\n{body}" if line else body
                             for _stage, sections in rendered for line, body in sections])
    if check:
        check_rendered(rendered, text)
    return text


def oversized_sections(stages: list[StagePlan], text: str) -> list[tuple[str, str, int]]:
    """(stage, section line, size in bytes) of each section of `text` (written from `stages`)
    longer than Apptainer reads: at most 64 KiB per section, the next section line included."""
    from defkit.sections import MAX_TOKEN_SIZE

    found: list[tuple[str, str, int]] = []
    if len(text.encode()) <= MAX_TOKEN_SIZE:
        return found  # no part of the text can be longer than the whole
    for stage in stages:
        sections = stage.sections()
        following = [line for line, _body in sections[1:]] + ["Bootstrap: x"]
        for (line, body), after in zip(sections, following):
            size = len(f"{line}\n{body}\n{after}".encode())
            if line and size > MAX_TOKEN_SIZE:
                found.append((stage.name, line, size))
    return found


class RenderError(AssertionError):
    """The converter wrote a .def that Apptainer would read differently (a converter bug)."""


def check_rendered(rendered: list[tuple[StagePlan, list[tuple[str, str]]]], text: str) -> None:
    """The converter's self-check: `text`, written from `rendered` (each plan with its section
    lines and bodies), read back by defkit's .def parser (Apptainer's rules) and templated with
    its own %arguments, gives the stages, header entries and section lines written (so no
    script line starts a section or a stage), and the %arguments, %labels and %files entries."""
    from defkit.errors import DefkitError
    from defkit.parser import parse_lenient
    from defkit.templating import template

    deffile, errors = parse_lenient(text, "<converted>")
    # A section over Apptainer's 64 KiB is the input's size, not a converter bug: the converter
    # warns about it (`oversized_sections`).
    too_long = [error for error in errors if error.kind == "token-too-long"]
    errors = [error for error in errors if error.kind != "token-too-long"]
    try:
        if errors:
            raise errors[0]
        assert deffile is not None  # (None only for text that is not UTF-8)
        if not too_long:  # (templating reads each stage again, with the same limit)
            template(deffile, {})
    except DefkitError as exc:
        raise RenderError(f"the .def does not read back: {exc.format()}") from None
    if len(deffile.stages) != len(rendered):
        raise RenderError(f"a script line would start a stage: {len(deffile.stages)} stages "
                          f"read, {len(rendered)} written")
    for (plan, sections), stage in zip(rendered, deffile.stages):
        header = [(entry.raw_key, entry.value) for entry in stage.header]
        if header != plan.header:
            raise RenderError(f"stage {plan.name}: header {plan.header} would be read as {header}")
        written = [line for line, _body in sections if line]
        read = [_section_line(section) for section in stage.sections]
        if read != written:
            extra = next((r for r, w in zip([*read, ""], [*written, ""]) if r != w), "")
            raise RenderError(f"stage {plan.name}: a script line would start a section: {extra!r}")
        for section in stage.sections:
            if section.name == "arguments":
                _expect(plan, "%arguments", {a.name: a.value for a in section.arguments},
                        plan.arguments)
            elif section.name == "labels":
                _expect(plan, "%labels", {label.key: label.value for label in section.labels},
                        plan.labels)
            elif section.name == "files":
                entries = plan.files_from[section.args.split()[-1]] if section.args \
                    else plan.files
                _expect(plan, "%files", [(f.source, f.destination) for f in section.files],
                        entries)


def _section_line(section: Section) -> str:
    """A section's line as the converter writes it: `%name` and its arguments."""
    return f"%{section.written_name}" + (f" {section.args}" if section.args_present else "")


def _expect(plan: StagePlan, what: str, read: object, written: object) -> None:
    if read != written:
        raise RenderError(f"stage {plan.name}: {what} would be read as {read!r}, not {written!r}")
