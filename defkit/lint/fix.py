"""Apply the fixes rules attach to their findings: text edits, bottom-up, re-linted a few times.

A file whose parse failed in a way no fix addresses is never changed; a pass that makes the parse
worse is undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from defkit.lint.config import LintConfig
from defkit.lint.linter import PARSE_ERROR_CODES, FileResult, lint_text
from defkit.lint.problem import Edit, Fix, Problem
from defkit.model import Span

MAX_PASSES = 4
#: Parse errors that fixes may repair (a typo in a section name or header key) or that are about
#: build arguments rather than structure; any other kind blocks fixing.
_REPAIRABLE_KINDS = frozenset(
    {
        "invalid-section",
        "invalid-header-key",
        "undefined-build-arg",
        "unused-build-arg",
        "build-arg",
    }
)


@dataclass(frozen=True)
class FixOutcome:
    original: str
    fixed: str
    applied: int  # fixes applied over all passes
    refused: str = ""  # why nothing was changed, when the file cannot be fixed safely


def offsets(text: str) -> list[int]:
    """Offset of the start of each line (index 0 is line 1)."""
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts


def _offset(starts: list[int], text: str, line: int, column: int) -> int:
    if line > len(starts):
        return len(text)
    line_end = starts[line] - 1 if line < len(starts) else len(text)
    return min(starts[line - 1] + column - 1, line_end if line < len(starts) else len(text))


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, int]:
    """`text` with every non-overlapping fix applied (a fix applies whole or not at all)."""
    starts = offsets(text)

    def bounds(edit: Edit) -> tuple[int, int]:
        span: Span = edit.span
        return (
            _offset(starts, text, span.line, span.column),
            _offset(starts, text, span.end_line, span.end_column),
        )

    unique = list(dict.fromkeys(fixes))  # a fix shared by several findings counts once
    ordered = sorted(unique, key=lambda f: max(bounds(e)[0] for e in f.edits), reverse=True)
    taken: list[tuple[int, int]] = []
    edits: list[tuple[int, int, str]] = []
    applied = 0
    for fix in ordered:
        ranges = [bounds(edit) for edit in fix.edits]
        if any(
            start < end_t and start_t < end or start == start_t
            for start, end in ranges
            for start_t, end_t in taken
        ):
            continue
        taken.extend(ranges)
        edits.extend(
            (start, end, edit.replacement) for (start, end), edit in zip(ranges, fix.edits)
        )
        applied += 1
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, applied


def blocking_reason(result: FileResult) -> str:
    if result.deffile is None:
        return "the file could not be parsed"
    for error in result.parse_errors:
        if error.kind not in _REPAIRABLE_KINDS:
            return f"the file has a parse error ({error.message})"
    for problem in result.problems:
        if problem.code in PARSE_ERROR_CODES and problem.fix is None:
            return f"the file has a parse error that no fix repairs ({problem.message})"
    return ""


def fix_text(text: str, path: str, config: LintConfig) -> FixOutcome:
    """Apply fixes until none is left (at most MAX_PASSES); ShellCheck is not needed for this."""
    current, applied = text, 0
    for _ in range(MAX_PASSES):
        result = lint_text(current, path, config, shellcheck=False)
        reason = blocking_reason(result)
        if reason:
            wanted = applied == 0 and bool(_fixes(result.problems))
            return FixOutcome(text, current, applied, reason if wanted else "")
        fixes = _fixes(result.problems)
        if not fixes:
            break
        candidate, count = apply_fixes(current, fixes)
        if candidate == current or count == 0:
            break
        if len(lint_text(candidate, path, config, shellcheck=False).parse_errors) > len(
            result.parse_errors
        ):
            break  # a fix made the parse worse: keep the last good text
        current, applied = candidate, applied + count
    return FixOutcome(text, current, applied)


def _fixes(problems: Sequence[Problem]) -> list[Fix]:
    return [problem.fix for problem in problems if problem.fix is not None]


def unified_diff(path: str, before: str, after: str) -> str:
    from defkit import textdiff

    lines = textdiff.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=path if path.startswith("/") else f"a/{path}",
        tofile=path if path.startswith("/") else f"b/{path}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
