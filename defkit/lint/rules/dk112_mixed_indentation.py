"""Checks for sections indented with both tabs and spaces.

## What it does
Reports, once per section, the first body line whose indentation uses a different character
(tab or space) than the section's first indented line, or mixes both. Heredoc bodies are
skipped: a Makefile written from `%post` needs its tabs.

## Why it matters
Mixed indentation looks different in every editor and makes nesting hard to read; with `<<-`
heredocs only tabs are stripped, so a space-indented terminator is silently not found.

## Default severity
`style`, and off by default (select it): the script runs either way; consistency only
(`defkit fmt` owns the layout).

## Example
```
%post
    apt-get update
        apt-get install -y curl
```

## Use instead
```
%post
    apt-get update
    apt-get install -y curl
```
Indent every line of a section the same way (most recipes use spaces).
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import body_lines, heredoc_lines
from defkit.model import Span

CODE = "DK112"
NAME = "mixed-indentation"
SEVERITY: Severity = "style"
ENABLED_BY_DEFAULT = False  # layout is `defkit fmt`'s job: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            style = ""
            data_lines = heredoc_lines(section) if section.is_script else frozenset()
            for line, column, text in body_lines(section):
                if line in data_lines:
                    continue  # heredoc bodies keep the indentation their file needs (Makefiles)
                indent = text[: len(text) - len(text.lstrip(" \t"))]
                if not indent or indent == text:
                    continue  # unindented or whitespace-only lines say nothing
                kinds = set(indent)
                if not style and len(kinds) == 1:
                    style = indent[0]
                    continue
                if len(kinds) > 1 or indent[0] != style:
                    span = Span(line, column, line, column + len(indent))
                    expected = "tabs" if style == "\t" else "spaces"
                    yield Problem(
                        span,
                        f"{section.display_name} mixes tabs and spaces in indentation "
                        f"(its first indented line uses {expected or 'both'})",
                    )
                    break
