"""Apptainer's build-time templating: `{{ VAR }}` placeholders, `%arguments` and `--build-arg`.

`apptainer build` parses the untemplated file, then for each stage replaces placeholders using the
build args and that stage's own `%arguments` defaults, and parses the result again. The text of
all templated stages, concatenated, is what Apptainer stores as the image's definition (defkit's
build stores the text as written instead: `build.engine.load_definition`).
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Union

from defkit.errors import DefParseError
from defkit.model import DefFile, Span, Stage
from defkit.sections import arguments_map, split_argument

# Go's `{{\s*(\w+)\s*}}` with `\s` = [\t\n\f\r ] and ASCII `\w`; a placeholder may span lines.
PLACEHOLDER = re.compile(r"\{\{[\t\n\f\r ]*([0-9A-Za-z_]+)[\t\n\f\r ]*\}\}")
# Go's `\s*[#][^!]\s*.*`, unanchored: a `#` followed by anything but `!` before the placeholder
# (each such `#`, overlapping ones too).
_COMMENT_MARK = re.compile(r"#(?=[^!])", re.DOTALL)
_NEWLINE = re.compile("\n")


@dataclass(frozen=True)
class Templated:
    deffile: DefFile  # stages re-parsed from their templated text
    text: str  # the concatenated templated stages: what the image stores
    used: frozenset[str]


def parse_build_arg(text: str) -> tuple[str, str]:
    """A `--build-arg KEY=VALUE`; invalid ones are fatal, as in Apptainer."""
    pair = split_argument(text)
    if pair is None:
        # Only the key is shown: the value may be a secret (Apptainer prints the whole text).
        if "=" in text:
            raise DefParseError("build arg missing key portion (nothing before `=`)",
                                kind="build-arg")
        raise DefParseError(f"build arg is not a key=value pair: {text!r}", kind="build-arg")
    return pair


def read_build_arg_file(
    path: Union[str, os.PathLike[str]],
) -> tuple[dict[str, str], list[str]]:
    """(args, warnings): lines that are not KEY=VALUE are skipped with a warning (as Apptainer)."""
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except OSError as exc:
        raise DefParseError(f"error while opening file {str(path)!r}: {exc.strerror}") from None
    found: dict[str, str] = {}
    warnings = []
    for number, line in enumerate(lines, 1):
        pair = split_argument(line)
        if pair is None:
            # The line is not shown: it may hold a secret written without its `KEY=`.
            warnings.append(f"Skipping line {number} of build arg file {os.fspath(path)}: "
                            "not a key=value pair")
            continue
        found[pair[0]] = pair[1]
    return found, warnings


def _position(text: str, index: int, first_line: int) -> Span:
    line = first_line + text.count("\n", 0, index)
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Span(line, column, line, column + 1)


def live_placeholders(source: str) -> Iterator[re.Match[str]]:
    """The placeholders Apptainer replaces in a stage's text `source`, in order: not those
    commented out (a `#` followed by anything but `!` before it on its line, since the last
    placeholder replaced)."""
    copied_to = 0
    # Where lines start and where a `#` is followed by something other than `!`, found once:
    # looking back from each placeholder would read a long line once per placeholder on it.
    newlines = [newline.start() for newline in _NEWLINE.finditer(source)]
    marks = [match.start() for match in _COMMENT_MARK.finditer(source)]
    for match in PLACEHOLDER.finditer(source):
        # What Go checks: the text since the last line end, or since the last placeholder
        # replaced when that is later, up to this placeholder.
        at = bisect.bisect_left(newlines, match.start()) - 1
        line_start = newlines[at] if at >= 0 and newlines[at] >= copied_to else copied_to
        mark = bisect.bisect_left(marks, line_start)
        if mark < len(marks) and marks[mark] + 1 < match.start():
            continue  # a commented placeholder is left as it is, even if undefined
        yield match
        copied_to = match.end()


def template_stage(
    stage: Stage, build_args: Mapping[str, str], *, path: str = "<string>"
) -> tuple[str, set[str]]:
    """The stage's text with its placeholders replaced, and the names used."""
    defaults = arguments_map(stage.script("arguments"))
    source = stage.raw
    out: list[str] = []
    used: set[str] = set()
    copied_to = 0
    for match in live_placeholders(source):
        name = match.group(1)
        if name in build_args:
            value = build_args[name]
        elif name in defaults:
            value = defaults[name]
        else:
            raise DefParseError(
                f"build var {name} is not defined through either --build-arg "
                "(--build-arg-file) or 'arguments' section",
                path=path,
                span=_position(source, match.start(), stage.span.line),
                kind="undefined-build-arg",
            )
        out.append(source[copied_to : match.start()])
        out.append(_replace_nested(value, build_args, defaults))
        used.add(name)
        copied_to = match.end()
    out.append(source[copied_to:])
    return "".join(out), used


def _replace_nested(value: str, build_args: Mapping[str, str], defaults: Mapping[str, str]) -> str:
    """Placeholders inside a value are replaced once; unknown ones stay literal."""
    matches = list(PLACEHOLDER.finditer(value))
    if not matches:
        return value
    names = {match.group(1) for match in matches}
    values = {
        name: build_args[name] if name in build_args else defaults[name]
        for name in names
        if name in build_args or name in defaults
    }
    if not any("{{" in text for text in values.values()):
        # No value brings a placeholder of its own: Go's replacing of each placeholder's text
        # in turn, everywhere, comes to one pass (one that does not take a pass per one).
        return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), value)
    result = value
    for match in matches:
        name = match.group(1)
        if name in values:
            result = result.replace(match.group(0), values[name])
    return result


def template(
    deffile: DefFile,
    build_args: Mapping[str, str],
    *,
    warn_unused: bool = False,
    flavour: str = "apptainer",
) -> Templated:
    """Apptainer's MakeAllDefs: template each stage, re-parse it, check the build args were used.

    With `warn_unused`, unused build args are allowed (the caller reports them)."""
    from defkit.stage import parse_stage

    texts: list[str] = []
    stages: list[Stage] = []
    used: set[str] = set()
    for stage in deffile.stages:
        text, names = template_stage(stage, build_args, path=deffile.path)
        used |= names
        reparsed, errors, _ = parse_stage(text, stage.span.line, path=deffile.path, flavour=flavour)
        if errors:
            raise errors[0]
        texts.append(text)
        stages.append(reparsed)
    unused = sorted(set(build_args) - used)
    if unused and not warn_unused:
        raise DefParseError(
            "unused build args: " + ", ".join(unused), path=deffile.path, kind="unused-build-arg"
        )
    whole = "".join(texts)
    return Templated(DefFile(deffile.path, whole, tuple(stages)), whole, frozenset(used))
