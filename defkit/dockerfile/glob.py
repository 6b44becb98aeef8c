"""Shell patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`, matched in linear passes.

BuildKit turns the pattern into a Go regular expression (RE2: linear time). Python's backtracking
`re` would take exponential time on patterns like `*a*a*a*b`, so the pattern is matched here as a
small automaton whose state set is a bit mask over positions in the value.

Pattern syntax (BuildKit's): `*` any run of characters, `?` one character, `\\*`, `\\?`, `\\\\`
literal; `\\}` and `\\/` are the characters `}` and `/`. No bracket expressions.

Go's regexp is leftmost-first; with only greedy `*` that is the longest match at the leftmost
start (and with only lazy `*` the shortest), which is what these functions compute.
"""

from __future__ import annotations

from defkit.dockerfile.errors import ExpansionError

_STAR, _ANY, _LITERAL = 0, 1, 2
_Token = tuple[int, str]


def compile_pattern(pattern: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            tokens.append((_STAR, ""))
        elif char == "?":
            tokens.append((_ANY, ""))
        elif char == "\\":
            following = pattern[index] if index < len(pattern) else ""
            if following in ("}", "/"):
                continue  # the escape only kept `}` or `/` from ending ${...}
            index += 1
            if following not in ("*", "?", "\\"):
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'"
                )
            tokens.append((_LITERAL, following))
        else:
            tokens.append((_LITERAL, char))
    return tuple(tokens)


class _Matcher:
    def __init__(self, tokens: tuple[_Token, ...], value: str) -> None:
        self.tokens = tokens
        self.value = value
        self.length = len(value)
        self.all_positions = (1 << (self.length + 1)) - 1
        self.before_end = (1 << self.length) - 1
        self.masks: dict[str, int] = {}

    def mask(self, char: str) -> int:
        """Bit p set where value[p] == char."""
        found = self.masks.get(char)
        if found is None:
            found = 0
            for position, candidate in enumerate(self.value):
                if candidate == char:
                    found |= 1 << position
            self.masks[char] = found
        return found

    def ends(self, start: int) -> int:
        """Bit e set when the whole pattern matches value[start:e]."""
        positions = 1 << start
        for kind, char in self.tokens:
            if not positions:
                return 0
            if kind == _STAR:
                lowest = (positions & -positions).bit_length() - 1
                positions = self.all_positions ^ ((1 << lowest) - 1)
            elif kind == _ANY:
                positions = (positions & self.before_end) << 1
            else:
                positions = (positions & self.mask(char)) << 1
        return positions

    def leftmost(self, search: int) -> tuple[int, int]:
        """(start, end) of the leftmost longest match at or after `search`; (-1, -1) if none."""
        for start in range(search, self.length + 1):
            ends = self.ends(start)
            if ends:
                return start, ends.bit_length() - 1
        return -1, -1


def trim_prefix(pattern: str, value: str, longest: bool) -> str:
    """`${VAR#pattern}` (shortest) or `${VAR##pattern}` (longest)."""
    ends = _Matcher(compile_pattern(pattern), value).ends(0)
    if not ends:
        return value
    end = ends.bit_length() - 1 if longest else (ends & -ends).bit_length() - 1
    return value[end:]


def trim_suffix(pattern: str, value: str, longest: bool) -> str:
    """`${VAR%pattern}` / `${VAR%%pattern}`: the prefix rule on the reversed value and pattern."""
    tokens = tuple(reversed(compile_pattern(pattern)))
    reversed_value = value[::-1]
    ends = _Matcher(tokens, reversed_value).ends(0)
    if not ends:
        return value
    end = ends.bit_length() - 1 if longest else (ends & -ends).bit_length() - 1
    return reversed_value[end:][::-1]


def replace(pattern: str, value: str, replacement: str, replace_all: bool) -> str:
    """`${VAR/pattern/repl}` (first match) or `${VAR//pattern/repl}`, as Go's regexp replaces."""
    matcher = _Matcher(compile_pattern(pattern), value)
    if not replace_all:
        start, end = matcher.leftmost(0)
        return value if start < 0 else value[:start] + replacement + value[end:]
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(value):
        start, end = matcher.leftmost(search)
        if start < 0:
            break
        out.append(value[last_end:start])
        # Go skips an empty match right after the previous match (no double replacement).
        if end > last_end or start == 0:
            out.append(replacement)
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(value[last_end:])
    return "".join(out)
