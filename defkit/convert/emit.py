"""A small writer for the .def text the converter produces (not the canonical `defkit fmt` layout).

A stage is collected into a `StagePlan` while the Dockerfile is walked, then written in the order
Apptainer runs the parts (deffile.md §9): %arguments, %files from, %files, %setup, %post, then the
run-time metadata. Script lines are indented for reading, except "raw" lines (here-document bodies
and terminators), which must stay byte-exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from defkit.convert.shell import PLACEHOLDER
from defkit.gotext import GO_SPACE, GO_SPACE_CHARS, trim_space
from defkit.sections import FILE_TOKEN, arguments_map, labels_map

INDENT = "    "
BLOCK_INDENT = INDENT + INDENT
WHITE_SPACE = re.compile(r"\s")  # str.isspace's characters


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


def files_word(path: str) -> str:
    """A %files token: bare unless it has whitespace or starts a comment (`#`); Apptainer's only
    quoting is "..."."""
    if not path or WHITE_SPACE.search(path) or path.startswith("#"):
        return f'"{path}"'
    return path


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
            body = "".join([f"{INDENT}{key}={value}\n" for key, value in self.arguments.items()])
            parts.insert(1, ("%arguments", body))
        return parts

    def _parts(self) -> list[tuple[str, str]]:
        """The sections apart from %arguments."""
        header = "\n".join([f"{key}: {value}" for key, value in self.header])
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
            body = "".join([f"{INDENT}{key} {value}\n" for key, value in self.labels.items()])
            parts.append(("%labels", body))
        if self.help:
            parts.append(("%help", "".join([f"{INDENT}{line}\n" for line in self.help])))
        return parts


def placeholders(sections: list[tuple[str, str]]) -> set[str]:
    """The NAMEs of the `{{ NAME }}` placeholders in the bodies of `sections`."""
    return set(PLACEHOLDER.findall("".join([body for _line, body in sections])))


def _files_body(entries: list[tuple[str, str]]) -> str:
    return "".join([f"{INDENT}{files_word(src)} {files_word(dst)}\n" for src, dst in entries])


def render_def(stages: list[StagePlan], preamble: list[str], *, check: bool = False) -> str:
    """The whole .def: comment lines, then each stage (stages are split at `Bootstrap:`).

    With `check`, the text is read back with Apptainer's rules (see `check_rendered`)."""
    head = "".join(f"# {line}\n" if line else "#\n" for line in preamble)
    rendered = [(stage, stage.sections()) for stage in stages]
    # (Stages, like the sections of a stage, are separated by an empty line: one join.)
    text = head + "\n".join([f"{line}\n{body}" if line else body
                             for _stage, sections in rendered for line, body in sections])
    if check:
        check_rendered(head, rendered, text)
    return text


# A line Apptainer reads as the start of a stage (`(?mi)^bootstrap:`) or of a section (its first
# word starts with `%`; Go's white space before it, the line end excepted). Searched in "\n" +
# text: the line start as a literal "\n" lets the regex engine skip to line starts.
_STRUCTURE = re.compile(
    r"\n((?:bootstrap:|[" + re.escape("".join(sorted(GO_SPACE - {"\n"}))) + r"]*%)[^\n]*)",
    re.IGNORECASE,
)


class RenderError(AssertionError):
    """The converter wrote a .def that Apptainer would read differently (a converter bug)."""


def check_rendered(head: str, rendered: list[tuple[StagePlan, list[tuple[str, str]]]],
                   text: str) -> None:
    """The converter's self-check: `text`, which `render_def` wrote as `head` then the pieces of
    `rendered` (each section line followed by its body, each piece ending with a line break,
    pieces joined with line breaks), reads back, with the .def parser's own line rules, as the
    stages and sections it was written from.

    * the lines that start a stage or a section are exactly the Bootstrap and %section lines
      written (no script line can start a section or a stage);
    * header values are single words Apptainer's header parser keeps as they are;
    * every `{{ NAME }}` of a stage is declared in its %arguments (Apptainer stops on an
      undefined one), and %arguments, %labels and %files lines read back as the values written
      (`defkit.sections`, the .def parser's own readers).
    Cheap (a few regular expressions over the text); the tests also parse every output with
    `defkit.parser.parse_text`."""
    # Every header value at once (`map` runs the loop in C); when one would be misread, each is
    # tested again in turn, so that the error raised is the first in the order below.
    kept = all(map(_KEPT_HEADER_VALUE.fullmatch,
                   [value for plan, _sections in rendered for _key, value in plan.header]))
    # Placeholders are looked for stage by stage only when the text has one at all.
    templated = PLACEHOLDER.search(text) is not None
    expected: list[str] = []
    found = _structure_lines(head)
    for plan, sections in rendered:
        for key, value in plan.header:
            if key.lower() == "bootstrap":
                expected.append(f"{key}: {value}")
            if not kept and not _KEPT_HEADER_VALUE.fullmatch(value):
                raise RenderError(f"stage {plan.name}: header {key}: {value!r} would be misread")
        for line, body in sections:
            if line:
                expected.append(line)
                # (A section line as written: one line, starting with `%`.)
                simple = line.startswith("%") and "\n" not in line
                found += [line] if simple else _structure_lines(f"{line}\n")
            found += _structure_lines(body)
        if templated:
            used = placeholders(sections)
            if not used <= plan.arguments.keys():
                raise RenderError(
                    f"stage {plan.name}: undeclared {sorted(used - set(plan.arguments))}")
        for line, body in sections:
            if line == "%arguments" and arguments_map(body) != plan.arguments:
                raise RenderError(f"stage {plan.name}: %arguments would be misread")
            elif line == "%labels" and labels_map(body) != plan.labels:
                raise RenderError(f"stage {plan.name}: %labels would be misread")
            elif line.startswith("%files"):
                entries = plan.files if line == "%files" else plan.files_from[line.split()[-1]]
                _check_files(plan, body, entries)
    if found != expected:
        extra = next((a for a, b in zip(found + [""], expected + [""]) if a != b), "")
        raise RenderError(f"a script line would start a stage or a section: {extra!r}")


def _structure_lines(piece: str) -> list[str]:
    """The lines of `piece` (which starts at a line start and ends with a line break) that
    Apptainer reads as the start of a stage or a section: what `_STRUCTURE` finds.

    The lines of the whole text are those of its pieces, so the text is searched piece by
    piece, with str methods (several times faster than the regular expression over every
    line): a line can only start a section where a `%` is. A piece holding `bootstrap:` in any
    case is searched with the regular expression itself. (`casefold` folds every letter the
    case-insensitive expression matches to its ASCII letter, "ſ" to "s" too; a `bootstrap:`
    anywhere but at a line start only costs the search.)"""
    if "bootstrap:" in piece.casefold():
        return _STRUCTURE.findall("\n" + piece)
    found: list[str] = []
    find = piece.find
    percent = find("%")
    while percent >= 0:
        line_start = piece.rfind("\n", 0, percent) + 1
        if not piece[line_start:percent].strip(GO_SPACE_CHARS):  # only white space before
            line_end = find("\n", percent)  # (the piece ends with a line break)
            found.append(piece[line_start:line_end])
            percent = find("%", line_end)
        else:
            percent = find("%", percent + 1)
    return found


# A header value Apptainer's header parser keeps as it is: not empty, no Go white space at either
# end (TrimSpace), no line break, no `#` (a comment starts there) and no backslash at the end (a
# continuation). As one expression, one call per value: a first character that is neither white
# space nor `#`, then anything but a line break or `#`, then a last character that is none of
# these nor a backslash (a single character is only the last).
_GO_SPACE_CLASS = re.escape(GO_SPACE_CHARS)
_KEPT_HEADER_VALUE = re.compile(rf"(?:[^{_GO_SPACE_CLASS}#][^\n#]*)?[^{_GO_SPACE_CLASS}#\\]")


def _check_files(plan: StagePlan, body: str, entries: list[tuple[str, str]]) -> None:
    """Each line of a %files body reads back (`FILE_TOKEN`, as the .def parser reads it) as
    exactly the source and destination written. (`zip` stops at the last entry: the body has
    a line per entry, and more if a path holds a line break.)"""
    lines = body.split("\n")
    # The common case, checked for the whole body at once: no quote, brace or `#`, and no
    # white space but " " (the only printable one): the tokens of each line are its words, and
    # no line is a comment.
    if ('"' not in body and "'" not in body and "{" not in body and "#" not in body
            and "".join(lines).isprintable()
            and [tuple(line.split()) for line in lines[:-1]] == entries):
        return
    tokens_of = FILE_TOKEN.findall
    for line, (source, destination) in zip(lines, entries):
        tokens = tokens_of(line)
        if (len(tokens) != 2 or trim_space(line).startswith("#")  # a comment line
                or trim_space(tokens[0]).strip('"') != source
                or trim_space(tokens[1]).strip('"') != destination):
            raise RenderError(f"stage {plan.name}: %files line {line.strip()!r} would be misread")
