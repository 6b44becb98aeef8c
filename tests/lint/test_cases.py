"""The YAML cases of the DK1xx-DK6xx rules: one test per case, with exact lines and columns.

Each `tests/lint/cases/<rule-name>.yaml` is a list of cases: `name`, `source` (the .def text),
`expect` (list of `{line, column, message}`; empty for a passing case), and optionally `settings`
(`Settings` fields; `site` is a site profile written as its YAML file would be),
`options` (the rule's options), `files` (paths created next to the definition file, which is
then linted from a temporary directory), `fixed` (the text after applying the rule's fixes) and
`severity` (the level the linter reports for every finding of the case).
The case is linted with only its rule selected; the framework's own rules have their runner in
`test_framework_cases.py`.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from ruamel.yaml import YAML

from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.lint.config_site import profile_from_mapping
from defkit.lint.context import Settings
from defkit.lint.fix import apply_fixes
from defkit.lint.linter import lint_text
from defkit.lint.rules import by_name

CASES = pathlib.Path(__file__).parent / "cases"
FRAMEWORK_RULES = ("parse-error", "unknown-section", "unknown-header-key", "unused-ignore",
                   "shellcheck-skipped")


def _cases() -> list[Any]:
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        if path.stem in FRAMEWORK_RULES:
            continue
        for case in YAML(typ="safe").load(path.read_text(encoding="utf-8")):
            found.append(pytest.param(path.stem, case, id=f"{path.stem}: {case['name']}"))
    return found


def _config(rule_name: str, case: dict[str, Any]) -> LintConfig:
    rule = by_name(rule_name)
    assert rule is not None, f"{rule_name}.yaml names no registered rule"
    settings = dict(case.get("settings", {}))
    if "site" in settings:  # a site profile given inline, as its YAML file would have it
        settings["site"] = profile_from_mapping(settings["site"])
    return LintConfig(
        select=(rule.CODE,),
        settings=Settings(**settings),
        options={rule.NAME: case.get("options", {})},
        shellcheck=ShellcheckOptions(enabled=False),
        inline_ignores=False,
    )


def _path(case: dict[str, Any], tmp_path: pathlib.Path) -> str:
    if "files" not in case:
        return "<string>"
    for name in case["files"]:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("", encoding="utf-8")
    deffile = tmp_path / "Singularity.def"
    deffile.write_text(case["source"], encoding="utf-8")
    return str(deffile)


@pytest.mark.parametrize(("rule_name", "case"), _cases())
def test_case(rule_name: str, case: dict[str, Any], tmp_path: pathlib.Path) -> None:
    config = _config(rule_name, case)
    path = _path(case, tmp_path)
    source = str(case["source"])
    result = lint_text(source, path, config, shellcheck=False)
    # Messages that name a created file say `<dir>` for the temporary directory.
    got = {
        (p.span.line, p.span.column, p.message.replace(str(tmp_path), "<dir>"))
        for p in result.problems
    }
    expected = {(item["line"], item["column"], item["message"]) for item in case["expect"]}
    assert got == expected
    if "fixed" in case:
        fixed, _ = apply_fixes(source, (p.fix for p in result.problems if p.fix is not None))
        assert fixed == case["fixed"]
    if "severity" in case:  # the level the linter reports, which a rule may set per finding
        assert {p.severity for p in result.problems} == {case["severity"]}
