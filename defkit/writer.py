"""The one .def writer: how header, section, %labels, %arguments and %files lines are written,
and `defkit fmt`, a canonical layout for definition files that never changes what they mean.

`defkit fmt`: header keys get their usual spelling and `Key: value` spacing, sections are
separated by one blank line, trailing white space goes where no shell sees it, `%labels` and
`%files` columns are aligned, and the file ends with one newline. Script bodies are otherwise
kept verbatim (indentation, comments, heredocs). The converter writes its .def files with the
line writers below (`defkit.convert.emit`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from defkit.gotext import trim_space
from defkit.model import DefFile, Section, Stage
from defkit.sections import FILE_TOKEN, split_label
from defkit.shell_scan import code_lines, strippable_lines

KEY_SPELLING = {
    "bootstrap": "Bootstrap",
    "from": "From",
    "stage": "Stage",
    "includecmd": "IncludeCmd",
    "mirrorurl": "MirrorURL",
    "updateurl": "UpdateURL",
    "osversion": "OSVersion",
    "include": "Include",
    "library": "Library",
    "registry": "Registry",
    "namespace": "Namespace",
    "product": "Product",
    "user": "User",
    "regcode": "Regcode",
    "productpgp": "ProductPGP",
    "registerurl": "RegisterURL",
    "modules": "Modules",
    "fingerprints": "Fingerprints",
    "confurl": "ConfURL",
    "setopt": "SetOpt",
    "target": "Target",
    "frontend": "Frontend",
    "filename": "Filename",
    "buildargs": "BuildArgs",
}
INDENT = "    "
# Sections whose body is text, not code: kept as written, `#` lines included.
_TEXT_SECTIONS = ("help", "apphelp", "arguments", "applabels", "appfiles")
_WHITE_SPACE = re.compile(r"\s")  # str.isspace's characters


def header_line(key: str, value: str) -> str:
    return f"{key}: {value}" if value else f"{key}:"


def label_line(key: str, value: str) -> str:
    """A %labels line: Apptainer splits it at the first space."""
    return f"{INDENT}{key} {value}"


def argument_line(name: str, value: str) -> str:
    """A %arguments line: Apptainer splits it at the first `=`."""
    return f"{INDENT}{name}={value}"


def files_word(path: str) -> str:
    """A %files token: bare unless it has white space or starts a comment (`#`); Apptainer's
    only quoting is "..."."""
    if not path or _WHITE_SPACE.search(path) or path.startswith("#"):
        return f'"{path}"'
    return path


def files_line(source: str, destination: str) -> str:
    return f"{INDENT}{files_word(source)} {files_word(destination)}"


def key_spelling(key: str) -> str:
    if key.startswith("otherurl"):
        return "OtherURL" + key[len("otherurl") :]
    return KEY_SPELLING.get(key, key)


@dataclass(frozen=True)
class _Block:
    """A header or section as formatted, and the comments written directly above the line that
    follows it: they belong to that line (a `%section` or `Bootstrap:`), so they are written
    above it, after the blank line between blocks. (Apptainer still reads them as the end of
    this block, where a blank line before them changes nothing.)"""

    lines: list[str]
    comments: list[str]


def format_deffile(deffile: DefFile) -> str:
    lines = deffile.text.split("\n")
    first = deffile.stages[0].span.line if deffile.stages else len(lines) + 1
    indent = _file_indent(deffile)
    blocks: list[_Block] = []
    # Text before the first stage (comments) is kept, trailing white space removed.
    prefix = _rstrip_all(lines[: first - 1])
    if any(prefix):
        count = _trailing(prefix, lambda i: trim_space(prefix[i]).startswith("#"))
        kept = prefix[: len(prefix) - count]
        blocks.append(_Block(kept, [line.lstrip(" \t") for line in prefix[len(kept) :]]))
    for number, stage in enumerate(deffile.stages):
        following = deffile.stages[number + 1 : number + 2]
        next_line = following[0].span.line if following else 0
        blocks.append(_format_header(stage, lines, next_line))
        last = stage.sections[-1] if stage.sections and not following else None
        blocks.extend(
            _format_section(section, indent, followed=section is not last)
            for section in stage.sections
        )
    return _join(blocks)


def _join(blocks: list[_Block]) -> str:
    """Blocks separated by one blank line; comments carried to the block they belong to."""
    parts: list[str] = []
    carried: list[str] = []  # comments that belong above the next block's first line
    for number, block in enumerate(blocks):
        if number == len(blocks) - 1:  # nothing follows: its comments stay where they are
            lines, comments = _trim_blank(block.lines + block.comments), []
        else:
            lines, comments = _trim_blank(block.lines), block.comments
        if not lines:  # an empty header: what was carried goes on to the next line
            carried += comments
            continue
        parts.append("\n".join(carried + lines))
        carried = comments
    if carried:
        parts.append("\n".join(carried))
    return "\n\n".join(parts) + "\n"


def _trim_blank(lines: list[str]) -> list[str]:
    """`lines` without blank lines at either end."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip(" \t"):
        start += 1
    while end > start and not lines[end - 1].strip(" \t"):
        end -= 1
    return lines[start:end]


def _trailing(lines: list[str], is_comment: Callable[[int], bool]) -> int:
    """How many of the last `lines` are comments with no blank line below them."""
    count = 0
    while count < len(lines) and is_comment(len(lines) - 1 - count):
        count += 1
    return count


def _rstrip_all(lines: list[str]) -> list[str]:
    return [line.rstrip(" \t\r") for line in lines]


def _format_header(stage: Stage, lines: list[str], next_stage_line: int) -> _Block:
    end = stage.span.end_line + 1
    first_section = stage.sections[0].header_span.line if stage.sections else end
    first_line = stage.span.line
    header_lines = lines[first_line - 1 : first_section - 1]
    by_line = {entry.span.line: entry for entry in stage.header}
    in_entry = {n for e in stage.header for n in range(e.span.line, e.span.end_line + 1)}
    count = 0
    if stage.sections or next_stage_line == first_section:  # a line follows: do they belong?
        count = _trailing(
            header_lines,
            lambda i: first_line + i not in in_entry
            and trim_space(header_lines[i]).startswith("#"),
        )
    kept = header_lines[: len(header_lines) - count]
    comments = [line.rstrip(" \t\r").lstrip(" \t") for line in header_lines[len(kept) :]]
    out: list[str] = []
    skip_until = 0
    for offset, raw in enumerate(kept):
        number = first_line + offset
        if number <= skip_until:
            continue
        entry = by_line.get(number)
        if entry is None or entry.span.end_line != number:
            if entry is not None:
                # A continued value: keep its lines as written.
                skip_until = entry.span.end_line
                continued = kept[offset : offset + entry.span.end_line - number + 1]
                out.extend(_rstrip_all(continued))
                continue
            out.append(raw.rstrip(" \t\r").lstrip(" \t") if raw.strip() else "")
            continue
        text = trim_space(raw.rstrip("\r"))
        comment = text[text.index("#") :] if "#" in text else ""
        value = f" {entry.value}" if entry.value else ""
        line = f"{key_spelling(entry.key)}:{value}"
        out.append(f"{line} {comment}" if comment else line)
    return _Block(out, comments)


def _section_line(section: Section) -> str:
    if section.app is not None:
        return f"%{section.written_name} {section.app}"
    if section.args_present:
        return f"%{section.name} {section.args}"
    return f"%{section.name}"


def _format_section(section: Section, indent: str | None, *, followed: bool) -> _Block:
    body_lines = section.body.split("\n")
    # The lines directly above the next section or stage, when one `followed`.
    above_next = body_lines[:-1] if followed and section.body.endswith("\n") else []
    count = _trailing(above_next, _comment_test(section, above_next))
    comments = [line.rstrip(" \t\r") for line in above_next[len(above_next) - count :]]
    if count:
        body_lines = above_next[: len(above_next) - count]
    # App bodies are kept as Apptainer stores them (its customData holds their raw text).
    if section.name == "labels":
        body_lines = _align(body_lines, _label_columns, indent)
    elif section.name == "files":
        body_lines = _align(body_lines, _file_columns, indent)
    elif section.name in _TEXT_SECTIONS:
        body_lines = _rstrip_all(body_lines)
    elif _runs_under_shell(section):
        safe = strippable_lines(section.body)
        body_lines = [
            line.rstrip(" \t") if index in safe else line for index, line in enumerate(body_lines)
        ]
    while body_lines and body_lines[-1].strip(" \t") == "":
        body_lines.pop()
    return _Block([_section_line(section), *body_lines], comments)


def _comment_test(section: Section, lines: list[str]) -> Callable[[int], bool]:
    """Which of a section's body lines are comments written at the start of the line, so that
    they may stand apart from the body: `#` lines of `%labels` and `%files` (Apptainer skips
    them), and shell comments that start a line of code (never inside quotes or a heredoc,
    never continuing the line above). An indented comment stays in the body it is indented
    with; nothing of `%help`, `%arguments`, app labels or files, or a script for another
    interpreter moves."""
    if section.name in ("labels", "files"):
        return lambda i: lines[i].startswith("#")
    if section.name in _TEXT_SECTIONS or not _runs_under_shell(section):
        return lambda i: False
    code = code_lines(section.body) or set()
    # (`#!` is a script's interpreter line, which must stay first.)
    return lambda i: i in code and lines[i].startswith("#") and not lines[i].startswith("#!")


def _file_indent(deffile: DefFile) -> str | None:
    """The indentation the file's shell sections share, which `%labels` and `%files` take so
    that the file is indented one way: INDENT when no section is indented any way, None (each
    section keeps its own) when the shell sections disagree. Script bodies are never
    re-indented: Apptainer stores them as written."""
    found = set()
    for stage in deffile.stages:
        for section in stage.sections:
            if section.name in _TEXT_SECTIONS or section.name in ("labels", "files"):
                continue
            if not _runs_under_shell(section):
                continue
            found.add(_body_indent(section.body))
    found.discard(None)
    if not found:
        return INDENT
    return found.pop() if len(found) == 1 else None


def _body_indent(body: str) -> str | None:
    """The white space that every line of code in a shell body starts with (comments and blank
    lines aside); None for a body without code or one that does not scan balanced."""
    code = code_lines(body)
    if code is None:
        return None
    lines = body.split("\n")
    starts = [
        line[: len(line) - len(line.lstrip(" \t"))]
        for index, line in enumerate(lines)
        if index in code and line.strip(" \t") and not line.lstrip(" \t").startswith("#")
    ]
    return os.path.commonprefix(starts) if starts else None


def _runs_under_shell(section: Section) -> bool:
    first = section.body.lstrip().split("\n", 1)[0]
    if section.name in ("runscript", "startscript", "test", "apprun", "appstart", "apptest"):
        return not first.startswith("#!") or any(
            shell in first for shell in ("sh", "bash", "dash", "zsh", "ksh")
        )
    return True


def _label_columns(text: str) -> tuple[str, str] | None:
    key, value = split_label(text)
    if "\t" in key or not value:
        return None
    return key, value


def _file_columns(text: str) -> tuple[str, str] | None:
    tokens = FILE_TOKEN.findall(text)
    if len(tokens) != 2 or "'" in text:
        return None
    candidate = f"{tokens[0]} {tokens[1]}"
    # Keep the line as written unless it reads back as the same two words.
    return (tokens[0], tokens[1]) if FILE_TOKEN.findall(candidate) == tokens else None


def _align(lines: list[str], columns: Callable[[str], tuple[str, str] | None],
           indent: str | None) -> list[str]:
    """Re-indent and align two-column lines; other lines are kept, re-indented. With `indent`
    None the section's own indentation (its first line's) is kept."""
    if indent is None:
        first = next((line for line in lines if line.strip(" \t")), "")
        indent = first[: len(first) - len(first.lstrip(" \t"))]
    split = [
        columns(trim_space(line))
        if trim_space(line) and not trim_space(line).startswith("#")
        else None
        for line in lines
    ]
    width = max((len(pair[0]) for pair in split if pair is not None), default=0)
    out = []
    for line, pair in zip(lines, split):
        text = trim_space(line)
        if pair is not None:
            out.append(f"{indent}{pair[0].ljust(width)} {pair[1]}")
        else:
            out.append(f"{indent}{text}" if text else "")
    return out


def normalised_json(deffile: DefFile) -> list[dict[str, object]]:
    """Apptainer's JSON with the white space no shell sees taken out of script bodies:
    trailing white space on each line and blank lines (formatting adds or removes them only
    where sections end, which matters when duplicate sections are concatenated). Raw text is
    left out (never encoded: a copy of the whole file for each stage)."""
    from defkit.apptainer_json import stage_meaning

    def scrub(value: object) -> object:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str) and "\n" in value:
            lines = (line.rstrip(" \t") for line in value.split("\n"))
            return "\n".join(line for line in lines if line)
        return value

    return [scrub(stage_meaning(stage)) for stage in deffile.stages]  # type: ignore[misc]


def format_checked(deffile: DefFile) -> str:
    """The formatted text, after checking that Apptainer reads it as it reads the original."""
    from defkit.errors import DefkitError
    from defkit.parser import parse_text

    text = format_deffile(deffile)
    again = parse_text(text, deffile.path)
    if normalised_json(again) != normalised_json(deffile):
        raise DefkitError(
            "defkit fmt would change how Apptainer reads this file; left unchanged "
            "(please report this as a bug)",
            path=deffile.path,
        )
    return text
