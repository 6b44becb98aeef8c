"""The rule registry: every rule module, imported explicitly, in one plain tuple.

To add a rule, import its module below and append it to `RULES` (keep code order).
"""

from __future__ import annotations

from typing import Optional

from defkit.lint.context import Rule
from defkit.lint.rules import (
    dk001_parse_error,
    dk002_unknown_section,
    dk003_unknown_header_key,
    dk004_unused_ignore,
)

RULES: tuple[Rule, ...] = (
    dk001_parse_error,
    dk002_unknown_section,
    dk003_unknown_header_key,
    dk004_unused_ignore,
)

_BY_CODE: dict[str, Rule] = {rule.CODE: rule for rule in RULES}
_BY_NAME: dict[str, Rule] = {rule.NAME: rule for rule in RULES}


def by_code(code: str) -> Optional[Rule]:
    return _BY_CODE.get(code.upper())


def by_name(name: str) -> Optional[Rule]:
    return _BY_NAME.get(name.lower())


def lookup(code_or_name: str) -> Optional[Rule]:
    """The rule with this code (`DK002`) or name (`unknown-section`), or None."""
    return by_code(code_or_name) or by_name(code_or_name)


def enabled_by_default(rule: Rule) -> bool:
    """Opt-in rules set `ENABLED_BY_DEFAULT = False` in their module."""
    return bool(getattr(rule, "ENABLED_BY_DEFAULT", True))
