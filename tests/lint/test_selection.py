"""Selectors: codes, prefixes, names and ALL; opt-in rules; the most specific severity override."""

from __future__ import annotations

from defkit.lint.selection import is_enabled, is_valid_selector, severity_override

RULE = ("DK302", "apt-instead-of-apt-get")


def enabled(
    select: tuple[str, ...] = (), ignore: tuple[str, ...] = (), default_on: bool = True
) -> bool:
    return is_enabled(*RULE, default_on=default_on, select=select, ignore=ignore)


def test_default_and_selection() -> None:
    assert enabled()
    assert not enabled(default_on=False)
    for selector in ("DK302", "dk302", "DK3", "DK", "apt-instead-of-apt-get", "ALL", "all"):
        assert enabled(select=(selector,)), selector
    for selector in ("DK30", "DK3", "DK302"):
        assert not enabled(ignore=(selector,)), selector
    assert not enabled(select=("DK4", "SC"))
    assert not enabled(select=("DK302",), ignore=("DK3",))  # ignore wins


def test_opt_in_rules_need_their_own_name_or_all() -> None:
    assert not enabled(select=("DK3",), default_on=False)
    assert enabled(select=("DK302",), default_on=False)
    assert enabled(select=("apt-instead-of-apt-get",), default_on=False)
    assert enabled(select=("ALL",), default_on=False)


def test_most_specific_severity_override_wins() -> None:
    assert severity_override(*RULE, {}) is None
    assert severity_override(*RULE, {"ALL": "style", "DK3": "info"}) == "info"
    assert severity_override(*RULE, {"DK3": "info", "apt-instead-of-apt-get": "error"}) == "error"
    assert severity_override(*RULE, {"DK30": "ignore", "DK3": "error"}) == "ignore"
    assert (
        severity_override("SC2086", "shellcheck", {"shellcheck": "style", "SC2086": "error"})
        == "error"
    )


def test_valid_selectors() -> None:
    known = [RULE, ("DK001", "parse-error")]
    for word in ("ALL", "SC", "SC2086", "shellcheck", "DK", "DK3", "DK302", "parse-error"):
        assert is_valid_selector(word, known), word
    for word in ("DK9", "DK3021", "apt", "SC20866", "parse_error", ""):
        assert not is_valid_selector(word, known), word
