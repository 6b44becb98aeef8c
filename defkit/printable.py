"""Text from an image made safe to show on a terminal: no raw bytes, no control sequences.

Names and labels in a hostile image can hold invalid UTF-8 (kept by Python as surrogates, which
cannot even be encoded for output) and escape sequences that would drive the terminal. Both are
shown as backslash escapes instead.
"""

from __future__ import annotations

import re

_BIDI = "\u202a-\u202e\u2066-\u2069"
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}]")
_UNSAFE_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}]")


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with control characters, bidi overrides and undecodable bytes as `\\x..`/`\\u....`
    escapes; tabs and newlines are kept when `multiline` (scripts, def files)."""
    return (_UNSAFE_TEXT if multiline else _UNSAFE_LINE).sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
