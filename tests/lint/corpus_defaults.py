"""How noisy a default `defkit lint` run is on the real recipes of the corpus.

Lints every corpus file as `defkit lint` does with no options (no configuration file, the
default `fail-on`; a fixed `--arch amd64` so that arch-mismatch does not depend on the machine)
and counts the files that would fail the run, the findings per severity and the findings per
rule (ShellCheck codes included). `tests/lint/test_corpus.py` pins these figures.

    python -m tests.lint.corpus_defaults            # the table
    python -m tests.lint.corpus_defaults --failing  # and why each failing file fails
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from defkit.lint.problem import SEVERITIES, Problem
from tests.shared import corpus_def_files


@dataclass(frozen=True)
class CorpusFigures:
    files: int
    failing: dict[str, tuple[Problem, ...]]  # path -> the findings that fail it
    by_severity: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (code, severity)
    files_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # files with it

    def per_file(self, severity: str) -> float:
        return self.by_severity[severity] / self.files if self.files else 0.0

    def summary(self) -> dict[str, object]:
        """What the test pins: failing files, findings per severity, findings per rule."""
        return {
            "files": self.files,
            "failing_files": len(self.failing),
            "by_severity": {s: self.by_severity[s] for s in reversed(SEVERITIES)},
            "by_rule": {
                f"{code} {severity}": count for (code, severity), count in sorted(self.by_rule.items())
            },
        }


def measure(paths: Sequence[str]) -> CorpusFigures:
    """Lint `paths` with the defaults and count."""
    from defkit.lint import LintOptions, lint_paths
    from defkit.lint.config import LintConfig, Overrides
    from defkit.lint.linter import PARSE_ERROR_CODES
    from defkit.lint.problem import at_or_above

    fail_on = LintConfig().fail_on
    results = lint_paths(paths, LintOptions(overrides=Overrides(arch="amd64")))
    figures = CorpusFigures(files=len(results), failing={})
    for result in results:
        for problem in result.problems:
            figures.by_severity[problem.severity] += 1
            figures.by_rule[(problem.code, problem.severity)] += 1
        for key in {(problem.code, problem.severity) for problem in result.problems}:
            figures.files_by_rule[key] += 1
        if result.failed:
            figures.failing[result.path] = tuple(
                p for p in result.problems
                if p.code in PARSE_ERROR_CODES or at_or_above(p.severity, fail_on)
            )
    return figures


def corpus_figures() -> CorpusFigures:
    return measure([str(path) for path in corpus_def_files()])


def table(figures: CorpusFigures) -> str:
    lines = [
        f"files {figures.files}, failing a default run {len(figures.failing)} "
        f"({100 * len(figures.failing) / max(figures.files, 1):.1f} %)",
        "findings per severity (per file): "
        + ", ".join(
            f"{s} {figures.by_severity[s]} ({figures.per_file(s):.2f})"
            for s in reversed(SEVERITIES)
        ),
        "",
        f"{'code':<7} {'severity':<8} {'findings':>8} {'files':>6} {'failing':>8}",
    ]
    failing_files: Counter[str] = Counter()
    for problems in figures.failing.values():
        for code in {p.code for p in problems}:
            failing_files[code] += 1
    for (code, severity), count in sorted(
        figures.by_rule.items(), key=lambda item: (-item[1], item[0])
    ):
        lines.append(
            f"{code:<7} {severity:<8} {count:>8} {figures.files_by_rule[(code, severity)]:>6} "
            f"{failing_files[code] if severity in ('error', 'warning') else '':>8}"
        )
    return "\n".join(lines) + "\n"


def failing_report(figures: CorpusFigures) -> str:
    lines = []
    for path, problems in sorted(figures.failing.items()):
        lines.append(path.rsplit("/", 1)[-1])
        for p in problems:
            lines.append(f"    {p.span.line}:{p.span.column} {p.code} {p.severity}: {p.message}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    figures = corpus_figures()
    sys.stdout.write(table(figures))
    if "--failing" in argv:
        sys.stdout.write("\n" + failing_report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
