"""One logical line -> BuildKit parser node: keyword, flags and the per-instruction argument split.

This is the layer BuildKit's parser tests (`result` dumps) describe: words keep their quotes and
escapes, ENV/LABEL become key, value, separator triples, exec-form (JSON) arguments are decoded,
invalid JSON falls back to the shell form. The typed meaning of the arguments is in `commands.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from defkit.dockerfile.expand import is_go_space
from defkit.gotext import GO_SPACE_CHARS

# BuildKit's reWhitespace: note that it does not include newlines or Unicode spaces.
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class NodeError(ValueError):
    """An argument error at parser level (BuildKit's parser, not its instruction parser)."""


@dataclass(frozen=True)
class Node:
    """A line as BuildKit's parser reads it (its AST node)."""

    keyword: str  # as written
    original: str  # the logical line
    flags: tuple[str, ...]  # "--name=value" as extracted (quotes removed)
    args: tuple[str, ...]  # node values after the keyword
    json_form: bool
    child: Optional[Node]  # ONBUILD's nested instruction


# BuildKit recurses without limit on `ONBUILD ONBUILD ...` (its instruction parser rejects even
# one level); a bound keeps Python's stack safe on hostile input.
MAX_ONBUILD_NESTING = 32


#: A node's fields but `original` (the line): keyword, the keyword in lower case (computed once
#: here: the parser needs it too), flags, args, json_form, child.
NodeFields = tuple[str, str, tuple[str, ...], tuple[str, ...], bool, Optional[Node]]


def parse_node(line: str, escape: str, depth: int = 0) -> Node:
    """BuildKit's newNodeFromLine: split off the keyword and flags, then dispatch on the keyword."""
    keyword, _, flags, args, json_form, child = node_fields(line, escape, depth)
    return Node(keyword, line, flags, args, json_form, child)


def node_fields(line: str, escape: str, depth: int = 0) -> NodeFields:
    """`parse_node` without building the Node (the parser makes an `Instruction` of the fields
    directly, one record per line instead of two)."""
    if depth > MAX_ONBUILD_NESTING:
        raise NodeError(f"ONBUILD nested more than {MAX_ONBUILD_NESTING} levels deep")
    text = line.strip(GO_SPACE_CHARS)
    keyword, _, rest = text.partition(" ")
    if not keyword.isalpha():
        # BuildKit splits at the first run of blanks (_WHITESPACE); the first space is that place
        # when the word before it is all letters (no tab, \v, \f or \r in it). Else: its regex.
        parts = _WHITESPACE.split(text, maxsplit=1)
        keyword = parts[0]
        rest = parts[1] if len(parts) == 2 else ""
    flags: tuple[str, ...] = ()
    if rest:
        # `text` has no blanks at its end, so `rest` (its tail) has none either once lstripped.
        rest = rest.lstrip(GO_SPACE_CHARS)
        if rest[0] == "-" and rest.startswith("--"):  # (the method call only for a "-")
            rest, flag_words = extract_flags(rest, escape)
            flags = tuple(flag_words)
            rest = rest.strip(GO_SPACE_CHARS)
    lowered = keyword.lower()
    line_parser = _LINE_PARSERS.get(lowered)
    child: Optional[Node] = None
    json_form = False
    if line_parser is None:
        args: list[str] = [""]  # BuildKit keeps an empty node for an unknown instruction
    elif lowered == "onbuild":
        args = []
        if rest:
            child = parse_node(rest, escape, depth + 1)
    else:
        args, json_form = line_parser(rest, escape)
    return keyword, lowered, flags, tuple(args), json_form, child


def _shell_word(escape: str) -> re.Pattern[str]:
    """One word of BuildKit's parseWords, quotes and escapes kept: group 1 is the word, without
    an escape character that ends the line (BuildKit drops it, in or out of double quotes).
    Runs of ordinary characters are taken at once (one step of the regex engine, not one each)."""
    e = re.escape(escape)
    blank = re.escape(GO_SPACE_CHARS)
    return re.compile(
        rf"((?:[^{blank}\"'{e}]+|{e}.|\"(?:[^\"{e}]+|{e}.)*\"?|'[^']*'?)+)(?:{e}\Z)?|{e}\Z",
        re.DOTALL,
    )


_SHELL_WORD = {escape: _shell_word(escape) for escape in ("\\", "`")}


def extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes removed) and the rest of the line; `--` ends them
    (BuildKit's extractBuilderFlags, character by character)."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: list[str] = []
    quote = ""
    blank_ok = False
    pos = 0
    length = len(line)
    while pos <= length:
        char = line[pos] if pos < length else ""
        if phase == in_spaces:
            if pos == length:
                break
            if is_go_space(char):
                pos += 1
                continue
            if char != "-" or pos + 1 == length or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if pos == length:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == in_word:
            if is_go_space(char):
                text = "".join(word)
                phase = in_spaces
                if text == "--":
                    return line[pos:], words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
            elif char in ("'", '"'):
                quote = char
                blank_ok = True
                phase = in_quote
            elif char == escape:
                if pos + 1 < length:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(char)
        elif char == quote:
            phase = in_word
        elif char == escape:
            if pos + 1 == length:
                phase = in_word
            else:
                pos += 1
                word.append(line[pos])
        else:
            word.append(char)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words; quotes and escapes are kept (removed later, when expanded)."""
    shell_word = _SHELL_WORD.get(escape) or _shell_word(escape)
    return [word for word in shell_word.findall(rest) if word]


def _parse_name_value(rest: str, escape: str, keyword: str) -> list[str]:
    """ENV and LABEL: `key value...` (legacy, one pair) or `k=v k2=v2`, as key/value/sep triples."""
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _split_at_blanks(rest)
        if len(parts) < 2:
            raise NodeError(f"{keyword} must have two arguments")
        return [parts[0], parts[1], ""]
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise NodeError(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        args += (key, value, "=")
    return args


def _split_at_blanks(text: str) -> list[str]:
    """`_WHITESPACE.split(text, maxsplit=1)`. In a printable text the only such blank is the
    space: the first run of spaces is where `partition` splits, plus the spaces after it."""
    if not text.isprintable():
        return _WHITESPACE.split(text, maxsplit=1)
    head, space, tail = text.partition(" ")
    return [head, tail.lstrip(" ")] if space else [head]


def _parse_env(rest: str, escape: str) -> tuple[list[str], bool]:
    return _parse_name_value(rest, escape, "ENV"), False


def _parse_label(rest: str, escape: str) -> tuple[list[str], bool]:
    return _parse_name_value(rest, escape, "LABEL"), False


def _parse_name_or_name_value(rest: str, escape: str) -> tuple[list[str], bool]:
    return parse_words(rest, escape), False


def _parse_whitespace_delimited(rest: str, escape: str) -> tuple[list[str], bool]:
    """`_WHITESPACE.split(rest)` (no word for an empty `rest`). Words are commonly separated by
    single spaces: a printable text holds no tab, vertical tab, form feed or carriage return, and
    when no word is empty no space was doubled (or at an end), so splitting on " " is the same
    split, without the regex engine."""
    if not rest:
        return [], False
    if rest.isprintable():
        words = rest.split(" ")
        if "" not in words:
            return words, False
    return _WHITESPACE.split(rest), False


def _parse_string(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # NaN/Infinity are not JSON; Go's decoder rejects them


# One decoder for every line (json.loads with an option builds a new one per call).
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_json(rest: str) -> Optional[list[str]]:
    """A JSON array of strings; None to fall back to the shell form."""
    if "[" not in rest:
        return None  # the common shell form, found without stripping or decoding
    rest = rest.lstrip(GO_SPACE_CHARS)
    if not rest.startswith("["):
        return None
    if rest.count("[") + rest.count("{") > _SHALLOW:
        # Possibly nested deeper than Python's recursive decoder goes: judged without it.
        depth = _json_depth(rest)
        if depth is None:
            return None
        if depth > 1:
            raise NodeError(_NOT_STRINGS)
    try:
        value = _JSON.decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str):
            raise NodeError(_NOT_STRINGS)
        if not item.isascii() and _SURROGATE.search(item):
            # Go's decoder turns a lone UTF-16 surrogate (`"\ud83d"`) into U+FFFD, and so does
            # BuildKit; Python's keeps it, and no UTF-8 text can hold it.
            return [_SURROGATE.sub("\ufffd", item) for item in value]
    return value


_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Arrays and objects nested at most this deep are left to `json` (which recurses).
_SHALLOW = 64
#: Go's encoding/json refuses deeper nesting ("exceeded max depth").
_GO_MAX_DEPTH = 10000
_JSON_TOKEN = re.compile(
    r'[ \t\n\r]*(?:([\[\]{},:])|("(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null))"
)


def _json_depth(text: str) -> Optional[int]:
    """How deep the arrays and objects of the JSON value `text` nest (1: an array of scalars),
    or None when `text` is not one JSON value (followed by white space only) that Go decodes.

    A validator with an explicit stack, for what `json` would need a deep recursion for; it
    reads the grammar `json` and Go read (RFC 8259, no NaN or Infinity)."""
    stack: list[str] = []  # the closers awaited
    deepest = 0
    pos = 0
    # What may come next: a value ("value"; "value]" also allows `]`), a key ("key}" also
    # allows `}`), the `:` after a key, or `,` / the closer after a value ("next").
    expect = "value"
    while True:
        match = _JSON_TOKEN.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        punctuation = match.group(1)
        if expect == "colon":
            if punctuation != ":":
                return None
            expect = "value"
            continue
        if expect == "next":
            if punctuation == ",":
                expect = "value" if stack[-1] == "]" else "key"
                continue
            if punctuation != stack[-1]:
                return None
        elif expect in ("key", "key}"):
            if match.group(2) is not None:
                expect = "colon"
                continue
            if not (expect == "key}" and punctuation == "}"):
                return None
        elif punctuation == "[" or punctuation == "{":
            stack.append("]" if punctuation == "[" else "}")
            if len(stack) > _GO_MAX_DEPTH:
                return None
            deepest = max(deepest, len(stack))
            expect = "value]" if punctuation == "[" else "key}"
            continue
        elif punctuation is not None and not (expect == "value]" and punctuation == "]"):
            return None
        if punctuation is not None:
            stack.pop()  # a closer
        if not stack:
            return deepest if not text[pos:].strip(" \t\n\r") else None
        expect = "next"


def _parse_maybe_json(rest: str, escape: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    value = _parse_json(rest)
    return ([rest], False) if value is None else (value, True)


def _parse_maybe_json_to_list(rest: str, escape: str) -> tuple[list[str], bool]:
    value = _parse_json(rest)
    return _parse_whitespace_delimited(rest, escape) if value is None else (value, True)


def _parse_health_config(rest: str, escape: str) -> tuple[list[str], bool]:
    """`HEALTHCHECK TYPE rest`: the type word, then the rest like CMD."""
    separator = 0
    while separator < len(rest) and not is_go_space(rest[separator]):
        separator += 1
    if separator == 0:
        return [], False
    following = separator
    while following < len(rest) and is_go_space(rest[following]):
        following += 1
    command, json_form = _parse_maybe_json(rest[following:], escape)
    return [rest[:separator], *command], json_form


_LineParser = Callable[[str, str], "tuple[list[str], bool]"]

_LINE_PARSERS: dict[str, _LineParser] = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_value,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_whitespace_delimited,
    "from": _parse_whitespace_delimited,
    "healthcheck": _parse_health_config,
    "label": _parse_label,
    "maintainer": _parse_string,
    "onbuild": _parse_string,  # handled in parse_node: the rest is a nested instruction
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}

KNOWN_KEYWORDS = frozenset(_LINE_PARSERS)


def go_quote(text: str) -> str:
    """Go's strconv.Quote (the `%q` of BuildKit's messages and dumps)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == " " or char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
