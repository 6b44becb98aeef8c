"""The YAML cases of the framework's own rules (DK001-DK004), including what `--fix` makes of them.

Each case is linted with only its rule selected; `fixed`, where given, is the text after fixing.
"""

from __future__ import annotations

import pathlib

import pytest
from ruamel.yaml import YAML

from defkit.lint.config import LintConfig
from defkit.lint.context import Settings
from defkit.lint.fix import fix_text
from defkit.lint.linter import lint_text
from defkit.lint.rules import by_name

CASES = pathlib.Path(__file__).parent / "cases"
OWN = ("parse-error", "unknown-section", "unknown-header-key", "unused-ignore",
       "shellcheck-skipped")


def _cases() -> list[tuple[str, dict[str, object]]]:
    found = []
    for name in OWN:
        for case in YAML(typ="safe").load((CASES / f"{name}.yaml").read_text(encoding="utf-8")):
            found.append((name, case))
    return found


def _appended(case: dict[str, object]) -> str:
    """`append: {line: ..., times: N}`: a long body, too long to write out in a case."""
    append = case.get("append")
    if not isinstance(append, dict):
        return ""
    return str(append["line"]) * int(append["times"])


def _config(rule_name: str, case: dict[str, object]) -> LintConfig:
    rule = by_name(rule_name)
    assert rule is not None
    settings = Settings(**case.get("settings", {}))  # type: ignore[arg-type]
    # unused-ignore judges suppressions of enabled rules only: run it with its siblings.
    select = ("DK0",) if rule_name == "unused-ignore" else (rule.CODE,)
    return LintConfig(select=select, settings=settings)


@pytest.mark.parametrize(
    ("rule_name", "case"), _cases(), ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_case(rule_name: str, case: dict[str, object]) -> None:
    config = _config(rule_name, case)
    source = str(case["source"]) + _appended(case)
    # shellcheck-skipped is about ShellCheck: its cases run it.
    result = lint_text(source, "case.def", config, shellcheck=rule_name == "shellcheck-skipped")
    code = by_name(rule_name).CODE  # type: ignore[union-attr]
    found = [p for p in result.problems if p.code == code]
    got = [{"line": p.span.line, "column": p.span.column, "message": p.message} for p in found]
    assert got == case["expect"]
    if "fixed" in case:
        outcome = fix_text(str(case["source"]), "case.def", config)
        assert outcome.fixed == case["fixed"]
        assert not lint_text(outcome.fixed, "case.def", config, shellcheck=False).problems
    else:
        assert all(p.fix is None for p in found) or not case["expect"]
