"""Inline suppressions: `# defkit: ignore=DK123,missing-test -- reason`.

A directive on a line suppresses the findings that start on that line and on the next one (a run
of comment-only directive lines all apply to the first line after them); `ignore-file=` in the
header (before the first section) suppresses the codes in the whole file. Codes and names are
accepted; `all` matches every rule. What is left unused becomes an `unused-ignore` finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from defkit.lint.problem import Edit, Fix, Problem
from defkit.model import Span

_MARKER = re.compile(r"(?:^|(?<=\s))#\s*defkit:")
# (`\S(?:.*\S)?`, not `\S.*?`: a lazy run tries `\s*$` after each of its characters.)
_DIRECTIVE = re.compile(r"\s*(?P<kind>ignore-file|ignore)\s*=\s*(?P<codes>\S(?:.*\S)?)\s*$")
_TOKEN = re.compile(r"[^,\s]+")
_VALID_TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


@dataclass(frozen=True)
class Token:
    text: str
    span: Span

    def matches(self, problem: Problem) -> bool:
        word = self.text.lower()
        return word == "all" or word == problem.code.lower() or word == problem.name


@dataclass(frozen=True)
class Directive:
    line: int
    comment_span: Span  # from `#` to the end of the line
    whole_line: bool  # the line holds nothing but the comment
    file_wide: bool
    tokens: tuple[Token, ...]
    error: str = ""  # non-empty for a malformed directive


def parse_directives(text: str, header_end: int) -> list[Directive]:
    """Every `# defkit:` comment in `text`; `header_end` is the line of the first section."""
    found: list[Directive] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if "defkit:" not in raw:
            continue
        line = raw.rstrip("\r")
        marker = _MARKER.search(line)
        if marker is None:
            continue
        comment_span = Span(number, marker.start() + 1, number, len(line) + 1)
        whole_line = not line[: marker.start()].strip()
        body_start = marker.end()
        body, _, _reason = line[body_start:].partition(" -- ")
        match = _DIRECTIVE.match(body)
        if match is None:
            found.append(
                Directive(number, comment_span, whole_line, False, (), "malformed defkit directive")
            )
            continue
        offset = body_start + match.start("codes")
        tokens = tuple(
            Token(t.group(), Span(number, offset + t.start() + 1, number, offset + t.end() + 1))
            for t in _TOKEN.finditer(match.group("codes"))
        )
        file_wide = match.group("kind") == "ignore-file"
        error = ""
        if any(_VALID_TOKEN.match(token.text) is None for token in tokens):
            error = "malformed defkit directive (codes go comma-separated; a reason follows ' -- ')"
        elif file_wide and number >= header_end:
            error = "ignore-file must be in the header, before the first section"
        found.append(Directive(number, comment_span, whole_line, file_wide, tokens, error))
    return found


def _target_lines(directives: Sequence[Directive]) -> dict[int, set[int]]:
    """Directive line -> the finding lines it covers."""
    lines = {d.line for d in directives if d.whole_line}
    covered: dict[int, set[int]] = {}
    for directive in directives:
        target = directive.line + 1
        if directive.whole_line:
            while target in lines:
                target += 1
        covered[directive.line] = {directive.line, directive.line + 1, target}
    return covered


def apply(
    problems: Sequence[Problem],
    directives: Sequence[Directive],
    is_enabled: Callable[[str], bool],
    is_known: Callable[[str], bool],
) -> tuple[list[Problem], list[Problem]]:
    """Split `problems` into the kept ones and `unused-ignore` findings (span, message, fix only).

    `is_known(token)` says whether a code or name exists; `is_enabled(token)` whether that rule ran
    (for `all`: whether every rule did), since a suppression for a rule that is off cannot be
    judged unused.
    """
    covered = _target_lines(directives)
    used: set[tuple[int, int]] = set()  # (directive index, token index)
    kept: list[Problem] = []
    for problem in problems:
        suppressed = False
        for d_index, directive in enumerate(directives):
            if directive.error:
                continue
            if not directive.file_wide and problem.span.line not in covered[directive.line]:
                continue
            for t_index, token in enumerate(directive.tokens):
                if token.matches(problem):
                    used.add((d_index, t_index))
                    suppressed = True
        if not suppressed:
            kept.append(problem)
    return kept, _unused(directives, used, is_enabled, is_known)


def _unused(
    directives: Sequence[Directive],
    used: set[tuple[int, int]],
    is_enabled: Callable[[str], bool],
    is_known: Callable[[str], bool],
) -> list[Problem]:
    findings: list[Problem] = []
    for d_index, directive in enumerate(directives):
        if directive.error:
            findings.append(Problem(span=directive.comment_span, message=directive.error))
            continue
        stale: list[Token] = []
        for t_index, token in enumerate(directive.tokens):
            if (d_index, t_index) in used:
                continue
            if token.text.lower() != "all" and not is_known(token.text):
                findings.append(
                    Problem(span=token.span, message=f"unknown rule {token.text!r} in suppression")
                )
            elif is_enabled(token.text):
                stale.append(token)
        if not stale:
            continue
        if len(stale) == len(directive.tokens):
            fix = Fix("remove the suppression", (_remove_comment(directive),))
        else:
            fix = Fix(
                "remove the unused codes", tuple(_remove_token(directive, token) for token in stale)
            )
        for token in stale:
            findings.append(
                Problem(span=token.span, message=f"unused suppression for {token.text}", fix=fix)
            )
    return findings


def _remove_comment(directive: Directive) -> Edit:
    span = directive.comment_span
    if directive.whole_line:
        return Edit(Span(span.line, 1, span.line + 1, 1), "")
    return Edit(span, "")  # trailing whitespace before the comment is left for the formatter


def _remove_token(directive: Directive, token: Token) -> Edit:
    """Delete the token and the comma after it (or before it, for the last token)."""
    index = directive.tokens.index(token)
    span = token.span
    if index + 1 < len(directive.tokens):
        end = directive.tokens[index + 1].span.column
        return Edit(Span(span.line, span.column, span.line, end), "")
    start = directive.tokens[index - 1].span.end_column
    return Edit(Span(span.line, start, span.line, span.end_column), "")
