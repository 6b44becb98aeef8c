"""parseWords against BuildKit's character loop transcribed one to one (random short lines over the
characters that matter), and extractBuilderFlags on cases."""

from __future__ import annotations

import random

import pytest

from defkit.dockerfile.expand import is_go_space
from defkit.dockerfile.nodes import extract_flags, parse_words

_ALPHABET = [*"ab=-" * 3, " ", " ", "\t", '"', "'", "\\", "`", "\u00a0", "\n", "$", "--", "--x=",
             "\u3000"]


def reference_parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words; quotes and escapes are kept (removed later, when expanded)."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: list[str] = []
    quote = ""
    blank_ok = False
    pos = 0
    length = len(rest)
    while pos <= length:
        char = rest[pos] if pos < length else ""
        if phase == in_spaces:
            if pos == length:
                break
            if is_go_space(char):
                pos += 1
                continue
            phase = in_word
        if pos == length:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if is_go_space(char):
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if char in ("'", '"'):
                quote = char
                blank_ok = True
                phase = in_quote
            if char == escape:
                if pos + 1 == length:
                    pos += 1
                    continue  # an escape character at the very end is dropped
                word.append(char)
                pos += 1
                char = rest[pos]
            word.append(char)
        else:
            if char == quote:
                phase = in_word
            # The escape character is special inside double quotes only.
            if char == escape and quote != "'":
                if pos + 1 == length:
                    phase = in_word
                    pos += 1
                    continue
                pos += 1
                word.append(char)
                char = rest[pos]
            word.append(char)
        pos += 1
    return words


@pytest.mark.parametrize("seed", range(4))
def test_words_match_buildkits_character_loop(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5000):
        line = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 14)))
        for escape in ("\\", "`"):
            assert parse_words(line, escape) == reference_parse_words(line, escape), line


@pytest.mark.parametrize(("line", "rest", "flags"), [
    ("--from=build /a /b", "/a /b", ["--from=build"]),
    ("  --chown=1:1\t--chmod=600 a b", "a b", ["--chown=1:1", "--chmod=600"]),
    ('--mount="type=cache,target=/x y" make', "make", ["--mount=type=cache,target=/x y"]),
    ("--network=none -- --not-a-flag", " --not-a-flag", ["--network=none"]),
    ("--a\\ b c", "c", ["--a b"]),
    ("no flags --here", "no flags --here", []),
    ("--", "", []),
])
def test_flags(line: str, rest: str, flags: list[str]) -> None:
    assert extract_flags(line, "\\") == (rest, flags)
