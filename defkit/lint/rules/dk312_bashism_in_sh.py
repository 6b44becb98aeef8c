"""Checks for bash-only syntax in sections that run under `/bin/sh`.

## What it does
Reports, in script sections that run under `/bin/sh` (`%post`, `%setup`, `%test` without
`-c /bin/bash`; `%runscript`, `%startscript` without a bash shebang; app scripts; not
`%environment`, which Apptainer sources with its own bash-compatible interpreter): `[[ ]]`,
`source`, `function f`, here-strings `<<<`, arrays (`a=(...)`, `${a[@]}`), `==` inside `[ ]`,
`&>` redirections, brace expansion `{a,b}` and the builtins `pushd`, `popd`, `shopt`,
`declare`, `typeset`, `let`. Files whose base image is known to use
bash as `/bin/sh` (CentOS, Rocky, Alma, Fedora, RHEL/UBI, openSUSE, and the yum/dnf/zypper
agents) are not judged; on Alpine and busybox bases (busybox ash) only what ash lacks is
reported (arrays, brace expansion, `pushd`, `popd`, `shopt`, `declare`, `typeset`).

## Why it matters
On Debian and Ubuntu bases `/bin/sh` is dash: `source` is "not found", `[[` fails, `&>` runs the
command in the background, `mkdir /opt/{bin,lib}` creates one directory named `{bin,lib}`.

## Default severity
`warning`: the build fails (or silently does something else) where /bin/sh is not bash.

## Example
```
%post
    source /opt/conda/etc/profile.d/conda.sh
    if [[ -d /opt/app ]]; then echo ok; fi
```

## Use instead
```
%post -c /bin/bash
    source /opt/conda/etc/profile.d/conda.sh
    if [[ -d /opt/app ]]; then echo ok; fi
```
or POSIX syntax: `. /opt/conda/etc/profile.d/conda.sh` and `[ -d /opt/app ]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.base_shell import sh_is_bash, sh_is_busybox
from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import (
    Command,
    heredoc_lines,
    shell_of,
    unquoted_parts,
)
from defkit.model import Section, Span

CODE = "DK312"
NAME = "bashism-in-sh"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_BASH_BUILTINS = frozenset({"source", "pushd", "popd", "shopt", "declare", "typeset", "let"})
#: `{...}` not after `$`, `\` or `{`; it is a brace expansion when a `,` comes before any `$` in
#: it (checked apart: `[^$]*,[^}]*\}` backtracks in time quadratic in a long run of commas).
_BRACES = re.compile(r"(?<![$\\{])\{([^{}\s'\"]*)\}")
_ARRAY_EXPANSION = re.compile(r"\$\{#?[A-Za-z_][A-Za-z0-9_]*\[[@*]\]\}")
#: busybox ash (Alpine's /bin/sh) accepts these bash forms; arrays and brace expansion it lacks.
_ASH_KNOWS = ("`[[ ]]`", "`source`", "`function` declarations", "`==` in `[ ]`", "`<<<`", "`&>`",
              "`&>>`", "`let`")  # fmt: skip


def _findings(command: Command) -> Iterator[tuple[Span, str]]:
    head = command.head
    if head is not None:
        if head.value == "[[":
            yield head.span, "`[[ ]]`"
        elif head.value == "function":
            yield head.span, "`function` declarations"
        elif command.name in _BASH_BUILTINS:
            yield command.argv[0].span, f"`{command.name}`"
        elif command.name in ("[", "test"):
            for word in command.argv[1:]:
                if word.value == "==":
                    yield word.span, "`==` in `[ ]`"
    for operator, target in command.redirects:
        if operator in ("<<<", "&>", "&>>") and target is not None:
            yield target.span, f"`{operator}`"
    for word in command.words:
        if _ARRAY_EXPANSION.search(word.text):
            yield word.span, "arrays"
        elif "{{" not in word.text and any(
            "," in match.group(1).partition("$")[0]
            for _, part in unquoted_parts(word.text)
            for match in _BRACES.finditer(part)
        ):
            yield word.span, "brace expansion `{a,b}`"


def _array_assignments(section: Section) -> Iterator[tuple[Span, str]]:
    data_lines = heredoc_lines(section)
    for number, line in enumerate(section.body.split("\n")):
        if section.body_line + number in data_lines:
            continue
        match = re.match(r"\s*(?:export\s+|local\s+|readonly\s+)?[A-Za-z_][A-Za-z0-9_]*=\(", line)
        if match:
            column = match.end() + (section.body_column_offset if number == 0 else 0)
            line_number = section.body_line + number
            yield Span(line_number, column, line_number, column + 1), "arrays"


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        if sh_is_bash(stage):
            continue
        busybox = sh_is_busybox(stage)
        for section in stage.sections:
            if not section.is_script or section.name in ("environment", "appenv"):
                continue  # sourced by Apptainer's built-in shell interpreter, which knows bash
            if shell_of(section) not in ("sh", "dash"):
                continue
            where = section.display_name
            found = list(_array_assignments(section))
            for command in ctx.commands(section):
                found.extend(_findings(command))
            for span, what in sorted(found, key=lambda item: (item[0].line, item[0].column)):
                if busybox and what in _ASH_KNOWS:
                    continue
                shell = "busybox ash" if busybox else "dash on Debian and Ubuntu"
                yield Problem(
                    span,
                    f"{what} is bash syntax, but {where} runs under /bin/sh ({shell}); "
                    "use POSIX syntax or a bash shell",
                )
