"""Go's notion of white space and trimming, which Apptainer's parser relies on.

Python's `str.isspace` also accepts U+001C..U+001F, and `re`'s `\\s` differs from Go's; using
either would make defkit accept or split lines that Apptainer treats differently.
"""

from __future__ import annotations

# unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property.
GO_SPACE = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: The same characters as one string, for str.strip and friends.
GO_SPACE_CHARS = "".join(sorted(GO_SPACE))


def trim_space(text: str) -> str:
    """strings.TrimSpace."""
    return text.strip(GO_SPACE_CHARS)


def leading_space(text: str) -> int:
    """How many characters of Go white space start `text`."""
    return len(text) - len(text.lstrip(GO_SPACE_CHARS))
