"""A rule's documentation, read from its module docstring (summary line, then `## ` sections)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Union

from defkit.lint.context import Rule

REQUIRED_SECTIONS = ("What it does", "Why it matters", "Default severity", "Example", "Use instead")
DOCS_URL = "https://github.com/defkit/defkit/blob/main/docs/rules.md"
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class RuleDoc:
    summary: str
    sections: dict[str, str]
    text: str  # the whole docstring

    def section(self, title: str) -> str:
        return self.sections.get(title, "")


def rule_doc(rule: Union[Rule, ModuleType]) -> RuleDoc:
    text = (getattr(rule, "__doc__", None) or "").strip()
    parts = _HEADING.split(text)
    summary = parts[0].strip().split("\n")[0].strip()
    sections = {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    return RuleDoc(summary=summary, sections=sections, text=text)


def help_uri(code: str, name: str) -> str:
    if code.startswith("SC"):
        return f"https://www.shellcheck.net/wiki/{code}"
    return f"{DOCS_URL}#{name}"
