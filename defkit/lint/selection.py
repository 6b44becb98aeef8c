"""Which rules run and at what severity: selectors are codes, code prefixes, names or `ALL`.

`DK3` selects every `DK3xx` rule, `SC` every ShellCheck finding, `shellcheck` too (by name),
`unknown-section` one rule. Opt-in rules run only when named exactly (or with `ALL`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Optional

_PREFIX = re.compile(r"^[A-Za-z]+[0-9]*$")
SHELLCHECK_NAME = "shellcheck"


def specificity(selector: str, code: str, name: str) -> int:
    """How precisely `selector` names the rule: -1 no, 0 `ALL`, 1.. prefix length, 1000 exact."""
    word = selector.strip()
    if word.upper() == "ALL":
        return 0
    if word.lower() == name == SHELLCHECK_NAME:
        return 2  # names every ShellCheck code, like the prefix `SC`
    if word.lower() == name or word.upper() == code.upper():
        return 1000
    if _PREFIX.match(word) and code.upper().startswith(word.upper()):
        return len(word)
    return -1


def matches(selector: str, code: str, name: str) -> bool:
    return specificity(selector, code, name) >= 0


def is_enabled(
    code: str,
    name: str,
    *,
    default_on: bool,
    select: Iterable[str],
    ignore: Iterable[str],
) -> bool:
    selectors = list(select)
    if any(matches(word, code, name) for word in ignore):
        return False
    if not selectors:
        return default_on
    best = max((specificity(word, code, name) for word in selectors), default=-1)
    if default_on:
        return best >= 0
    return best == 0 or best == 1000  # opt-in rules need ALL or their own code or name


def severity_override(code: str, name: str, overrides: Mapping[str, str]) -> Optional[str]:
    """The level the most specific matching override gives (`ignore` drops the finding)."""
    best: tuple[int, Optional[str]] = (-1, None)
    for selector, level in overrides.items():
        score = specificity(selector, code, name)
        if score > best[0]:
            best = (score, level)
    return best[1]


def is_valid_selector(selector: str, codes_and_names: Iterable[tuple[str, str]]) -> bool:
    word = selector.strip()
    if word.upper() in ("ALL", "SC") or word.lower() == SHELLCHECK_NAME:
        return True
    if re.match(r"^SC[0-9]{1,4}$", word, re.IGNORECASE):
        return True
    return any(specificity(word, code, name) > 0 for code, name in codes_and_names)
