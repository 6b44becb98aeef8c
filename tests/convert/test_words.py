"""Word expansion for the converter: BuildKit's lexer, with markers for late-bound values (ENV
in the shell view, ARGs, variables of the base image)."""

from __future__ import annotations

import pytest

from defkit.convert.words import Scope, expand_word, plain_value, shell_value

SCOPE = Scope(env={"A": "1", "B": "x y"}, args={"V": "1.0", "N": None}, templated={"V"})
A, B, V = "\x00vA\x00", "\x00vB\x00", "\x00aV\x00"


@pytest.mark.parametrize(("word", "value", "shell"), [
    ("$A", "1", A), ("${A}", "1", A), ('"$A $B"', "1 x y", f"{A} {B}"),
    ("pre$A-post", "pre1-post", f"pre{A}-post"), ("$V", V, V), ("${V}x", f"{V}x", f"{V}x"),
    ('"a $N b"', "a  b", "a  b"),  # an ARG without a value is empty
    ("$UNKNOWN/x", "\x00vUNKNOWN\x00/x", "\x00vUNKNOWN\x00/x"),  # from the base image
    ('"quoted"', "quoted", "quoted"), ("a$", "a$", "a$"), ("${A:-d}", "1", A),
    ("'$A'", "$A", "$A"), ('"$A"suffix', "1suffix", f"{A}suffix"), ("a b", "a b", "a b"),
    ('"a\\"b"', 'a"b', 'a"b'), ("$A$B", "1x y", A + B), ('x"$A"', "x1", f"x{A}"),
    ("${A}_${V}", f"1_{V}", f"{A}_{V}"), ("${N:-fallback}", "fallback", "fallback"),
    ("\\$A", "$A", "$A"),
])
def test_expansion_in_both_views(word: str, value: str, shell: str) -> None:
    assert expand_word(word, SCOPE, "\\") == value
    assert expand_word(word, SCOPE, "\\", shell=True) == shell


def test_rendering_targets() -> None:
    value = expand_word("/opt/$V/bin:$PATH", SCOPE, "\\")
    assert shell_value(value, "post", SCOPE) == '"/opt/${V}/bin:${PATH}"'
    assert shell_value(value, "env", SCOPE) == '"/opt/{{ V }}/bin:${PATH}"'
    assert plain_value(value, SCOPE) == "/opt/{{ V }}/bin:"
    assert plain_value(value, SCOPE, literal=True) == "/opt/1.0/bin:"


def test_a_placeholder_after_a_hash_is_written_literally() -> None:
    # Apptainer would leave `{{ V }}` untemplated after a `#` on the same line.
    value = expand_word("issue#$V", SCOPE, "\\")
    assert shell_value(value, "env", SCOPE) == '"issue#1.0"'
