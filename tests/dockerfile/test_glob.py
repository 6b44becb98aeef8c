"""`${VAR#pat}`, `${VAR%pat}`, `${VAR/pat/r}` matching: same answers as a regex, in linear time."""

from __future__ import annotations

import random
import re
import time

import pytest

from defkit.dockerfile.errors import ExpansionError
from defkit.dockerfile.glob import replace, trim_prefix, trim_suffix


def _regex(pattern: str, *, lazy: bool) -> str:
    """The regex BuildKit builds for a pattern (fine as an oracle on tiny inputs)."""
    out = []
    for char in pattern:
        out.append({"*": ".*?" if lazy else ".*", "?": "."}.get(char, re.escape(char)))
    return "".join(out)


def _oracle_trim_prefix(pattern: str, value: str, longest: bool) -> str:
    match = re.match(_regex(pattern, lazy=not longest), value, re.DOTALL)
    return value[match.end() :] if match else value


def _oracle_trim_suffix(pattern: str, value: str, longest: bool) -> str:
    reversed_pattern = pattern[::-1]  # no escapes in the generated patterns
    return _oracle_trim_prefix(reversed_pattern, value[::-1], longest)[::-1]


def _oracle_replace_first(pattern: str, value: str, replacement: str) -> str:
    match = re.search(_regex(pattern, lazy=False), value, re.DOTALL)
    if match is None:
        return value
    return value[: match.start()] + replacement + value[match.end() :]


def test_agrees_with_regex_matching_on_random_cases() -> None:
    generator = random.Random(4)
    for _ in range(3000):
        pattern = "".join(generator.choice("ab*?") for _ in range(generator.randint(0, 5)))
        value = "".join(generator.choice("abc") for _ in range(generator.randint(0, 8)))
        for longest in (False, True):
            assert trim_prefix(pattern, value, longest) == _oracle_trim_prefix(
                pattern, value, longest
            ), (pattern, value, longest)
            assert trim_suffix(pattern, value, longest) == _oracle_trim_suffix(
                pattern, value, longest
            ), (pattern, value, longest)
        assert replace(pattern, value, "X", False) == _oracle_replace_first(pattern, value, "X")


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a", "banana", "bXnXnX"),
        ("an*", "banana", "bX"),
        ("*", "ab", "X"),  # Go: no empty match right after another match (Python re: "XX")
        ("", "ab", "XaXbX"),
        ("?", "ab", "XX"),
    ],
)
def test_replace_all_follows_go(pattern: str, value: str, expected: str) -> None:
    assert replace(pattern, value, "X", True) == expected


def test_escapes() -> None:
    assert trim_prefix("\\*", "*x", longest=False) == "x"
    assert trim_suffix("\\}", "a}", longest=False) == "a"
    with pytest.raises(ExpansionError):
        trim_prefix("\\a", "a", longest=False)


def test_pathological_pattern_is_fast() -> None:
    started = time.perf_counter()
    value = "a" * 3000
    assert trim_prefix("*a*a*a*a*a*a*b", value, longest=False) == value
    assert replace("*a*a*a*a*a*b", value, "X", True) == value
    assert time.perf_counter() - started < 2
