"""Checks for credentials written into the definition file.

## What it does
Reports, anywhere in the file (header, `%environment`, `%labels`, `%arguments`, scripts,
comments): private keys (`-----BEGIN ... PRIVATE KEY-----`), AWS access key ids, GitHub, GitLab,
Slack, Hugging Face and Google API tokens, passwords in URLs (`https://user:secret@host`), and
literal values assigned to names such as `PASSWORD`, `SECRET`, `TOKEN`, `API_KEY`
(`DB_PASSWORD=hunter2`; values from variables, placeholders or files are fine, and so are
example values in `%help` such as `API_KEY=<your key>` or `HF_TOKEN=your-token`). Tokens of a
known format are reported in `%help` too. The message never repeats the secret.

## Why it matters
The whole definition file is stored in the image (`/.singularity.d/Singularity`) and shown by
`apptainer inspect --deffile`; `%environment` and `%labels` are readable by anyone who can run
the image. A secret in the file is published with every copy of the image and in the
repository history.

## Default severity
`error`: a secret in a definition file ends up in the image's metadata and in version control.

## Example
```
%environment
    export HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH
```

## Use instead
```
%environment
    export HF_HOME=/opt/hf
```
and pass secrets at run time (`--env-file`, `APPTAINERENV_HF_TOKEN`), or at build time through a
file bound into `%post` and deleted, never written in the definition file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK409"
NAME = "secret-in-definition"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_TOKENS = (
    (re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a private key"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_\w{50,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), "a Hugging Face token"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    # (A scheme of at most 32 characters: an unbounded run would be read again from every word
    # start of a long line, in time quadratic in its length.)
    (re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://[^\s/:@'\"]+:(?![$`{])[^\s/@'\"]+@[A-Za-z0-9.-]"),
     "a password in a URL"),
)  # fmt: skip
_SECRET_WORD = r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)"
#: `NAME=value` where NAME ends in a word meaning "secret" (also `--password=value`).
_SECRET_ASSIGNMENT = re.compile(rf"{_SECRET_WORD}=(\"[^\"]*\"|'[^']*'|[^\s;&|]+)", re.IGNORECASE)
#: A cheap first look: lines without any of these cannot hold what the patterns find.
_MAYBE_SECRET = re.compile(
    r"PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox|hf_|AIza|@|=", re.IGNORECASE
)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SECRET_LABEL = re.compile(rf"[A-Za-z0-9_.-]*{_SECRET_WORD}", re.IGNORECASE)
_NOT_A_LITERAL = re.compile(
    r"^[$`{<(]|^/|^\.{0,2}/|^(true|false|yes|no|none|null|0|1|\*+|x+)$", re.I
)


#: Values that say "put yours here" (in `%help`, where usage is explained).
_EXAMPLE_VALUE = re.compile(
    r"[<>\[\]]|\.\.\.|^(.)\1+$|\b(your|my|example|sample|dummy|placeholder|changeme|change_me"
    r"|redacted|secret|password|token|key|foo|bar)\b|^(your|my)[_-]",
    re.IGNORECASE,
)


def _help_lines(ctx: LintContext) -> frozenset[int]:
    """The file lines of `%help` and `%apphelp` bodies."""
    if ctx.deffile is None:
        return frozenset()
    return frozenset(
        line
        for stage in ctx.deffile.stages
        for section in stage.sections
        if section.name in ("help", "apphelp")
        for line in range(section.body_line, section.body_line + section.body.count("\n") + 1)
    )


def _literal(value: str) -> bool:
    value = value.strip("\"'")
    return len(value) >= 4 and not _NOT_A_LITERAL.search(value) and "{{" not in value


def check(ctx: LintContext) -> Iterator[Problem]:
    help_lines = _help_lines(ctx)
    for number, line in enumerate(ctx.lines, start=1):
        if not _MAYBE_SECRET.search(line):
            continue
        token_starts: set[int] = set()
        for pattern, what in _TOKENS:
            for match in pattern.finditer(line):
                token_starts.add(match.start())
                yield Problem(
                    Span(number, match.start() + 1, number, match.end() + 1),
                    f"{what} is written in the definition file (stored in the image)",
                )
        for match in _SECRET_ASSIGNMENT.finditer(line):
            value = match.group(1)
            # The rest of the name, read backwards (a regex search for it would start again at
            # every character of a long line).
            begin = match.start()
            while begin > 0 and line[begin - 1] in _NAME_CHARS:
                begin -= 1
            name = line[begin : match.start(1) - 1]
            quote = 1 if value[:1] in "'\"" else 0
            if number in help_lines and _EXAMPLE_VALUE.search(value.strip("\"'")):
                continue  # `%help` shows how to set it: `API_KEY=your-key` is an example
            if _literal(value) and match.start(1) + quote not in token_starts:
                start, end = match.span(1)
                yield _literal_problem(name, Span(number, start + 1, number, end + 1))
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            for label in section.labels:
                if _SECRET_LABEL.fullmatch(label.key) and _literal(label.value):
                    yield _literal_problem(label.key, label.span)


def _literal_problem(name: str, span: Span) -> Problem:
    return Problem(span, f"`{name}` is given a literal value, stored in the image")
