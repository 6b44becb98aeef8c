"""The one .def writer: how header, section, %labels, %arguments and %files lines are written,
and `defkit fmt`, a canonical layout for definition files that never changes what they mean.

`defkit fmt`: header keys get their usual spelling and `Key: value` spacing, sections are
separated by one blank line, trailing white space goes where no shell sees it, `%labels` and
`%files` columns are aligned, and the file ends with one newline. Script bodies are otherwise
kept verbatim (indentation, comments, heredocs). The converter writes its .def files with the
line writers below (`defkit.convert.emit`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from defkit.gotext import trim_space

if TYPE_CHECKING:
    from defkit.model import DefFile, Section, Stage

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


def format_deffile(deffile: DefFile) -> str:
    lines = deffile.text.split("\n")
    first = deffile.stages[0].span.line if deffile.stages else len(lines) + 1
    # Text before the first stage (comments) is kept, trailing white space removed.
    prefix = _rstrip_all(lines[: first - 1])
    parts = ["\n".join(prefix).strip("\n")] if any(line for line in prefix) else []
    parts.extend(_format_stage(stage, lines) for stage in deffile.stages)
    return "\n\n".join(part for part in parts if part) + "\n"


def _rstrip_all(lines: list[str]) -> list[str]:
    return [line.rstrip(" \t\r") for line in lines]


def _format_stage(stage: Stage, lines: list[str]) -> str:
    end = stage.span.end_line + 1
    first_section = stage.sections[0].header_span.line if stage.sections else end
    header_lines = lines[stage.span.line - 1 : first_section - 1]
    blocks = []
    header = _format_header(stage, header_lines, stage.span.line)
    if header:
        blocks.append(header)
    blocks.extend(_format_section(section) for section in stage.sections)
    return "\n\n".join(blocks)


def _format_header(stage: Stage, header_lines: list[str], first_line: int) -> str:
    by_line = {entry.span.line: entry for entry in stage.header}
    out: list[str] = []
    skip_until = 0
    for offset, raw in enumerate(header_lines):
        number = first_line + offset
        if number <= skip_until:
            continue
        entry = by_line.get(number)
        if entry is None or entry.span.end_line != number:
            if entry is not None:
                # A continued value: keep its lines as written.
                skip_until = entry.span.end_line
                continued = header_lines[offset : offset + entry.span.end_line - number + 1]
                out.extend(_rstrip_all(continued))
                continue
            out.append(raw.rstrip(" \t\r").lstrip(" \t") if raw.strip() else "")
            continue
        text = trim_space(raw.rstrip("\r"))
        comment = text[text.index("#") :] if "#" in text else ""
        value = f" {entry.value}" if entry.value else ""
        line = f"{key_spelling(entry.key)}:{value}"
        out.append(f"{line} {comment}" if comment else line)
    return "\n".join(out).strip("\n")


def _section_line(section: Section) -> str:
    if section.app is not None:
        return f"%{section.written_name} {section.app}"
    if section.args_present:
        return f"%{section.name} {section.args}"
    return f"%{section.name}"


def _format_section(section: Section) -> str:
    body_lines = section.body.split("\n")
    # App bodies are kept as Apptainer stores them (its customData holds their raw text).
    if section.name == "labels":
        body_lines = _align(body_lines, _label_columns)
    elif section.name == "files":
        body_lines = _align(body_lines, _file_columns)
    elif section.name in ("help", "apphelp", "arguments", "applabels", "appfiles"):
        body_lines = _rstrip_all(body_lines)
    elif _runs_under_shell(section):
        from defkit.shell_scan import strippable_lines

        safe = strippable_lines(section.body)
        body_lines = [
            line.rstrip(" \t") if index in safe else line for index, line in enumerate(body_lines)
        ]
    while body_lines and body_lines[-1].strip(" \t") == "":
        body_lines.pop()
    return "\n".join([_section_line(section), *body_lines])


def _runs_under_shell(section: Section) -> bool:
    first = section.body.lstrip().split("\n", 1)[0]
    if section.name in ("runscript", "startscript", "test", "apprun", "appstart", "apptest"):
        return not first.startswith("#!") or any(
            shell in first for shell in ("sh", "bash", "dash", "zsh", "ksh")
        )
    return True


def _label_columns(text: str) -> tuple[str, str] | None:
    from defkit.sections import split_label

    key, value = split_label(text)
    if "\t" in key or not value:
        return None
    return key, value


def _file_columns(text: str) -> tuple[str, str] | None:
    from defkit.sections import FILE_TOKEN

    tokens = FILE_TOKEN.findall(text)
    if len(tokens) != 2 or "'" in text:
        return None
    candidate = f"{tokens[0]} {tokens[1]}"
    # Keep the line as written unless it reads back as the same two words.
    return (tokens[0], tokens[1]) if FILE_TOKEN.findall(candidate) == tokens else None


def _align(lines: list[str], columns: object) -> list[str]:
    """Re-indent and align two-column lines; other lines are kept, re-indented."""
    split = [
        columns(trim_space(line))  # type: ignore[operator]
        if trim_space(line) and not trim_space(line).startswith("#")
        else None
        for line in lines
    ]
    width = max((len(pair[0]) for pair in split if pair is not None), default=0)
    out = []
    for line, pair in zip(lines, split):
        text = trim_space(line)
        if pair is not None:
            out.append(f"{INDENT}{pair[0].ljust(width)} {pair[1]}")
        else:
            out.append(f"{INDENT}{text}" if text else "")
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
