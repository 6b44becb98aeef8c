"""Reports a script section ShellCheck was not run on.

## What it does
Reports, once per script section, that ShellCheck did not check it, and why: the section is over
Apptainer's 64 KiB limit (which the parse already reports as an error), or ShellCheck ran out of
its time or memory bound on it (`defkit.lint.shellcheck.SECONDS_PER_SCRIPT`, `MEMORY_LIMIT`).

## Why it matters
ShellCheck's time and memory grow steeply on very large scripts (an 8 MB `%post` took minutes
and gigabytes), so defkit bounds each script instead of letting one section stall a CI job. A
section that was not checked should not look like a section that passed.

## Default severity
`info`: nothing is wrong with the file because of it (a section over 64 KiB has its own error),
so it must not fail a run; it is there so that the missing check is visible.

## Example
A `%post` of 100 000 generated lines.

## Use instead
Move long generated scripts into files copied by `%files` and run from `%post`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK005"
NAME = "shellcheck-skipped"
SEVERITY: Severity = "info"
OPTIONS: dict[str, Any] = {}
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    # Found while ShellCheck runs: `defkit.lint.shellcheck` makes these findings.
    return iter(())
