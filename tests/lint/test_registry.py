"""Every registered rule is complete: metadata, documentation, and test cases on both sides."""

from __future__ import annotations

import pathlib
import re

import pytest
from ruamel.yaml import YAML

from defkit.lint.context import Rule
from defkit.lint.docs import REQUIRED_SECTIONS, rule_doc
from defkit.lint.problem import SEVERITIES
from defkit.lint.rules import (
    RULES,
    by_code,
    by_name,
    enabled_by_default,
    has_dynamic_severity,
    lookup,
)

CASES = pathlib.Path(__file__).parent / "cases"
IDS = [rule.NAME for rule in RULES]


def test_codes_and_names_are_unique() -> None:
    assert len({rule.CODE for rule in RULES}) == len(RULES)
    assert len({rule.NAME for rule in RULES}) == len(RULES)


def test_registry_is_in_code_order() -> None:
    codes = [rule.CODE for rule in RULES]
    assert codes == sorted(codes)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_metadata(rule: Rule) -> None:
    assert re.fullmatch(r"DK[0-9]{3}", rule.CODE)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.NAME)
    assert rule.SEVERITY in SEVERITIES
    assert isinstance(rule.FIXABLE, bool)
    assert all(isinstance(key, str) for key in rule.OPTIONS)
    assert callable(rule.check)
    assert by_code(rule.CODE) is rule and by_name(rule.NAME) is rule
    assert lookup(rule.CODE.lower()) is rule and lookup(rule.NAME.upper()) is rule


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_documentation_has_every_section(rule: Rule) -> None:
    doc = rule_doc(rule)
    assert doc.summary, "the docstring needs a one-line summary"
    for title in REQUIRED_SECTIONS:
        assert doc.section(title).strip(), f"{rule.NAME}: missing '## {title}'"


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_documented_default_severity_is_the_rules(rule: Rule) -> None:
    """`## Default severity` opens with the level the rule has (or says it is set per finding)
    and says "off by default" exactly when the rule is opt-in, so the docs cannot drift."""
    text = rule_doc(rule).section("Default severity")
    opening = text.startswith(f"`{rule.SEVERITY}`")
    assert opening or (has_dynamic_severity(rule) and text.startswith("Set per finding")), rule.NAME
    assert ("off by default" in text) == (not enabled_by_default(rule)), rule.NAME


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_cases_fail_and_pass(rule: Rule) -> None:
    path = CASES / f"{rule.NAME}.yaml"
    assert path.is_file(), f"no test cases for {rule.NAME} in {path}"
    cases = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(cases, list) and cases
    for case in cases:
        assert {"name", "source", "expect"} <= set(case), case.get("name")
    assert any(case["expect"] for case in cases), "needs a failing case"
    assert any(not case["expect"] for case in cases), "needs a passing case"
