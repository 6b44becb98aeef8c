"""Helpers shared by rules that look at the model rather than at shell text."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Optional, TypeVar

from defkit.lint.problem import Edit, Problem
from defkit.model import DefFile, Section, Span, Stage
from defkit.templating import live_placeholders

_T = TypeVar("_T")


def is_templated(value: str) -> bool:
    """True when a value is decided at build time (`{{ X }}` or a shell variable)."""
    return "{{" in value or "$" in value


def stage_anchor(stage: Stage) -> Span:
    """Where to report a problem about a whole stage: its Bootstrap line, else its first line."""
    entry = stage.header_entry("bootstrap")
    if entry is not None:
        return entry.span
    if stage.header:
        return stage.header[0].span
    if stage.sections:
        return stage.sections[0].header_span
    return stage.span


def insert_before(span: Span, text: str) -> Edit:
    """An edit that writes `text` just before `span`."""
    return Edit(Span(span.line, span.column, span.line, span.column), text)


def insert_after(span: Span, text: str) -> Edit:
    """An edit that writes `text` just after `span`."""
    return Edit(Span(span.end_line, span.end_column, span.end_line, span.end_column), text)


def final_stage(deffile: Optional[DefFile]) -> Optional[Stage]:
    """The stage that becomes the image; None when the file did not parse or has no stage."""
    if deffile is None or not deffile.stages:
        return None
    return deffile.final_stage


def missing_section(deffile: Optional[DefFile], name: str) -> Iterator[Problem]:
    """A problem at the final stage when it has no `%name` section."""
    stage = final_stage(deffile)
    if stage is not None and not stage.sections_named(name):
        yield Problem(stage_anchor(stage), f"the image has no %{name}")


def sections(deffile: Optional[DefFile], name: str) -> Iterator[tuple[Stage, Section]]:
    """Every section called `name` with its stage, in file order."""
    if deffile is None:
        return
    for stage in deffile.stages:
        for section in stage.sections:
            if section.name == name:
                yield stage, section


def section_args(section: Section) -> str:
    """A section line's arguments without their trailing `# comment`."""
    return section.args.split("#", 1)[0]


def last_arg_span(lines: list[str], section: Section, word: str) -> Span:
    """Where `word` last stands on a section's line, before any `# comment`."""
    line = section.header_span.line
    column = lines[line - 1].split("#", 1)[0].rfind(word) + 1
    return Span(line, column, line, column + len(word))


def span_start(span: Span, length: int) -> Span:
    """The first `length` characters of `span` (on its first line)."""
    return Span(span.line, span.column, span.line, span.column + length)


def section_name_span(section: Section) -> Span:
    """The `%name` word of a section line."""
    return span_start(section.header_span, 1 + len(section.name))


def repeats(
    items: Iterable[_T], key: Callable[[_T], Hashable], line: Callable[[_T], int]
) -> Iterator[tuple[_T, int]]:
    """Each item whose key an earlier item already had, with the line of that first item."""
    first_line: dict[Hashable, int] = {}
    for item in items:
        seen = key(item)
        if seen in first_line:
            yield item, first_line[seen]
        else:
            first_line[seen] = line(item)


def placeholders(stage: Stage) -> Iterator[tuple[str, Span]]:
    """The `{{ NAME }}` placeholders Apptainer replaces in a stage (commented ones skipped)."""
    source = stage.raw
    newlines = [newline.start() for newline in re.finditer("\n", source)]

    def position(offset: int) -> tuple[int, int]:
        row = bisect.bisect_left(newlines, offset)
        return stage.span.line + row, offset - (newlines[row - 1] + 1 if row else 0) + 1

    for match in live_placeholders(source):
        line, column = position(match.start())
        end_line, end_column = position(match.end())
        yield match.group(1), Span(line, column, end_line, end_column)
