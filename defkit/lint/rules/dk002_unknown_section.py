"""Reports section names Apptainer does not know, with a did-you-mean.

## What it does
Checks every `%name` line against Apptainer's sections (`%help`, `%setup`, `%files`, `%labels`,
`%environment`, `%pre`, `%post`, `%runscript`, `%test`, `%startscript`, `%arguments` and the SCIF
`%app*` sections). A close match is suggested and applied by `--fix`: `%environments` becomes
`%environment`, `%lables` becomes `%labels`. Indented section lines, and arguments separated from
the name by a tab, are reported too (Apptainer reads them as a different name).

## Why it matters
Apptainer refuses the whole file (`invalid section(s) specified`), but only when the build
starts. Any line in a script whose first word starts with `%` also ends the script there, which is
easy to miss in a heredoc.

## Default severity
`error`: Apptainer rejects a file with an unknown section; it always fails the run.

## Example
```
%environments
    export LC_ALL=C
```

## Use instead
```
%environment
    export LC_ALL=C
```
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any, Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import APP_SECTIONS, STANDARD_SECTIONS, Section, Span

CODE = "DK002"
NAME = "unknown-section"
SEVERITY: Severity = "error"
OPTIONS: dict[str, Any] = {}
FIXABLE = True

KNOWN = STANDARD_SECTIONS + APP_SECTIONS
# `%`-prefix, then the name as written: up to the first space (Apptainer splits on U+0020 only).
_HEADER = re.compile(r"^(?P<indent>\s*)(?P<percent>%+)(?P<name>[^ ]*)")


def suggestion(name: str) -> Optional[str]:
    """The known section closest to `name`, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(name.lower(), KNOWN, n=1, cutoff=0.7)
    return matches[0] if matches else None


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    lines = ctx.lines
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.is_known:
                continue
            line_no = section.header_span.line
            text = lines[line_no - 1] if line_no <= len(lines) else ""
            yield _problem(section, line_no, text.rstrip("\r"))


def _problem(section: Section, line_no: int, text: str) -> Problem:
    match = _HEADER.match(text)
    if match is None:  # the model and the text disagree; report without a fix
        return Problem(span=section.header_span, message=f"unknown section %{section.name}")
    indent, written = match.group("indent"), match.group("name")
    name_start = len(indent) + len(match.group("percent")) + 1
    name_span = Span(line_no, name_start, line_no, name_start + len(written))
    if indent and section.name == "":
        fix = Fix("remove the indentation", (Edit(Span(line_no, 1, line_no, len(indent) + 1), ""),))
        message = "indented section line: Apptainer reads an empty section name"
        return Problem(span=Span(line_no, 1, line_no, len(text) + 1), message=message, fix=fix)
    word, _, rest = written.partition("\t")
    if rest and word.lower() in KNOWN:
        start = name_start + len(word)
        tab_span = Span(line_no, start, line_no, start + 1)
        fix = Fix("separate the arguments with a space", (Edit(tab_span, " "),))
        message = (
            f"unknown section %{written}: separate %{word.lower()} from its arguments with a space"
        )
        return Problem(span=name_span, message=message.replace("\t", "\\t"), fix=fix)
    shown = written.replace("\t", "\\t") or section.name
    guess = suggestion(written) if written else None
    if guess is None:
        return Problem(
            span=name_span if written else section.header_span, message=f"unknown section %{shown}"
        )
    fix = Fix(f"rename to %{guess}", (Edit(name_span, guess),))
    return Problem(
        span=name_span, message=f"unknown section %{shown}; did you mean %{guess}?", fix=fix
    )
