"""The default format: `path:line:col: CODE [name] message`, the source line, a caret, a summary."""

from __future__ import annotations

from collections.abc import Sequence

from defkit.lint.problem import Problem
from defkit.report.base import Report, counts, display_path

_COLOURS = {"error": "31", "warning": "33", "info": "36", "style": "35"}
#: Rules whose findings are secrets: their text is masked wherever a source line is shown, so a
#: CI log does not repeat the token it warns about.
SECRET_RULES = ("secret-in-definition",)


def _paint(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def render(report: Report) -> str:
    out: list[str] = []
    for result in report.results:
        # (no text: a file that is not UTF-8, whose bytes are never shown)
        lines = mask_secrets(result.text.split("\n"), result.problems) if result.text else []
        for problem in result.problems:
            out.append(headline(problem, report.color))
            if report.show_source:
                out.extend(source_excerpt(problem, lines, report.color))
    out.append(summary(report))
    return "\n".join(out) + "\n"


def mask_secrets(lines: list[str], problems: Sequence[Problem]) -> list[str]:
    """`lines` with the text of every secret finding replaced by `*` (same length)."""
    masked = list(lines)
    for problem in problems:
        if problem.name not in SECRET_RULES:
            continue
        span = problem.span
        for number in range(span.line, min(span.end_line, len(masked)) + 1):
            line = masked[number - 1]
            start = span.column - 1 if number == span.line else 0
            end = span.end_column - 1 if number == span.end_line else len(line)
            end = min(max(end, start), len(line))
            masked[number - 1] = line[:start] + "*" * (end - start) + line[end:]
    return masked


def headline(problem: Problem, color: bool = False) -> str:
    where = f"{display_path(problem.path)}:{problem.span.line}:{problem.span.column}:"
    code = _paint(problem.code, "1;" + _COLOURS.get(problem.severity, "0"), color)
    name = _paint(f"[{problem.name}]", "2", color)
    return f"{_paint(where, '1', color)} {code} {name} {problem.message}"


def source_excerpt(problem: Problem, lines: Sequence[str], color: bool = False) -> list[str]:
    """The line the problem starts on, and a caret under it (tabs copied so it lines up)."""
    if not 1 <= problem.span.line <= len(lines):
        return []
    line = lines[problem.span.line - 1].rstrip("\r")
    column = min(problem.span.column, len(line) + 1)
    width = 1
    if problem.span.end_line == problem.span.line:
        width = max(1, min(problem.span.end_column, len(line) + 1) - column)
    lead = "".join(char if char == "\t" else " " for char in line[: column - 1])
    gutter = f"{problem.span.line:>5} | "
    caret = _paint("^" * width, "1;" + _COLOURS.get(problem.severity, "0"), color)
    excerpt = [f"{gutter}{line}", f"{' ' * (len(gutter) - 2)}| {lead}{caret}"]
    if problem.fix is not None:  # say what --fix would do, as ruff's "help:" line
        excerpt.append(f"{' ' * (len(gutter) - 2)}= fix: {problem.fix.description}")
    return excerpt


def summary(report: Report) -> str:
    problems = report.problems
    files = report.files_checked
    noun = "file" if files == 1 else "files"
    if not problems:
        return f"No problems found in {files} {noun}."
    by_level: dict[str, int] = {}
    for problem in problems:
        by_level[problem.severity] = by_level.get(problem.severity, 0) + 1
    countable = ("error", "warning")  # "3 errors", but "3 info", "3 style"
    levels = ", ".join(
        f"{by_level[level]} {level}{'s' if by_level[level] != 1 and level in countable else ''}"
        for level in ("error", "warning", "info", "style")
        if level in by_level
    )
    fixable = sum(1 for problem in problems if problem.fixable)
    tail = f" {fixable} fixable with --fix." if fixable else ""
    plural = "problem" if len(problems) == 1 else "problems"
    return f"Found {len(problems)} {plural} ({levels}) in {files} {noun}.{tail}"


def render_statistics(report: Report) -> str:
    fixable = {(p.code, p.name) for p in report.problems if p.fixable}
    rows = [
        f"{count:>6}  {code:<7} {name}{'  [*]' if (code, name) in fixable else ''}"
        for (code, name), count in counts(report.problems).items()
    ]
    return "\n".join([*rows, summary(report)]) + "\n"
