"""Word expansion for the converter: markers for late-bound values, and the fast path agreeing
with BuildKit's lexer (defkit.dockerfile.expand) wherever it is taken."""

from __future__ import annotations

import pytest

from defkit.convert.words import Scope, expand_word, plain_value, shell_value
from defkit.dockerfile.expand import LexOptions, process

SCOPE = Scope(env={"A": "1", "B": "x y"}, args={"V": "1.0", "N": None}, templated={"V"})
WORDS = ["$A", "${A}", '"$A $B"', "pre$A-post", "$V", "${V}x", '"a $N b"', "$UNKNOWN/x",
         '"quoted"', "a$", "$1", "${A:-d}", "'$A'", '"$A"suffix', "a b", '"a\\"b"', "$A$B",
         'x"$A"', '"${A}"', "${A}_${V}", "${N:-fallback}", "\\$A"]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("shell", [False, True])
def test_fast_path_matches_the_lexer(word: str, shell: bool) -> None:
    expected = process(word, SCOPE.view(shell), LexOptions(escape="\\")).result
    assert expand_word(word, SCOPE, "\\", shell=shell) == expected


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
