"""BuildKit's shell-word rules (frontend/dockerfile/shell/lex.go) as defkit implements them."""

from __future__ import annotations

import pytest

from defkit.dockerfile.expand import (
    ExpansionError,
    expand,
    expand_detailed,
    expand_heredoc,
    expand_words,
)

ENV = {"A": "hello world", "EMPTY": "", "P": "/usr/local/bin:/usr/bin", "KOREAN": "한국어"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "hello world"),
        ("${A}", "hello world"),
        ("x${A}y", "xhello worldy"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${UNSET-fallback}", "fallback"),
        ("${A:+set}", "set"),
        ("${EMPTY:+set}", ""),
        ("${EMPTY+set}", "set"),
        ("${UNSET+set}", ""),
        ("${UNSET:-$A}", "hello world"),
        ("${P#*/}", "usr/local/bin:/usr/bin"),
        ("${P##*/}", "bin"),
        ("${P%/*}", "/usr/local/bin:/usr"),
        ("${P%%:*}", "/usr/local/bin"),
        ("${P/usr/opt}", "/opt/local/bin:/usr/bin"),
        ("${P//usr/opt}", "/opt/local/bin:/opt/bin"),
        ("${KOREAN}!", "한국어!"),
        ("$", "$"),
        ("$.", "$."),
        ("he$1x", "hex"),
        ("cost: $5", "cost: "),
    ],
)
def test_variable_substitution(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("'$A'", "$A"),  # single quotes: everything literal
        ('"$A"', "hello world"),
        ('"a\\"b"', 'a"b'),  # \" escapes a quote inside "..."
        ('"a\\tb"', "a\\tb"),  # other escapes stay literal inside "..."
        ('"\\$A"', "$A"),
        ("\\$A", "$A"),
        ("a\\ b", "a b"),
        ("abc\\tdef", "abctdef"),  # outside quotes the escape just makes t literal
        ("he'll'o", "hello"),
        ("\"''\"", "''"),
        ("'a\\b'", "a\\b"),
        ("hello\\", "hello"),  # a lone trailing escape is dropped
        ("hello\\\\", "hello\\"),
    ],
)
def test_quotes_and_escapes(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


def test_backtick_escape_leaves_backslash_alone() -> None:
    assert expand("C:\\path`$A", ENV, escape="`") == "C:\\path$A"
    assert expand('"a`"b"', ENV, escape="`") == 'a"b'


def test_expand_words_splits_substituted_text_but_not_quoted_text() -> None:
    env = {"SPACE": "abc  def"}
    assert expand_words("a b  c", env) == ["a", "b", "c"]
    assert expand_words("x${SPACE}y", env) == ["xabc", "defy"]
    assert expand_words('x"${SPACE}"y', env) == ["xabc  defy"]
    assert expand_words("'one two' three", env) == ["one two", "three"]
    assert expand_words('a "" b', env) == ["a", "b"]


def test_expand_detailed_reports_used_and_unset_names() -> None:
    result = expand_detailed("$A ${MISSING:-x} $EMPTY", ENV)
    assert result.result == "hello world x "
    assert result.used == {"A", "EMPTY"}
    assert result.unset == {"MISSING"}


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("'open", "single-quote"),
        ('"open', "double-quote"),
        ("${A", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:x}", "bad substitution"),
        ("${A:x}", "unsupported modifier (:x)"),
        ("${A:#x}", "unsupported modifier (:#)"),
        ("${UNSET:?must be set}", "UNSET: must be set"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ],
)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as raised:
        expand(word, ENV)
    assert message in raised.value.message


def test_set_but_empty_passes_question_mark_without_colon() -> None:
    assert expand("${EMPTY?}", ENV) == ""


def test_heredoc_body_keeps_quotes_and_substitutes() -> None:
    assert expand_heredoc("say '$A' \"$A\" \\$A\n", ENV) == "say 'hello world' \"hello world\" $A\n"
