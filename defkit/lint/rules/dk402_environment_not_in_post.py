"""Checks for `%post` using variables that only `%environment` sets.

## What it does
Reports the first use in `%post` of a variable that the same stage's `%environment` sets and
`%post` itself never sets. Variables every shell has (`PATH`, `HOME`, ...) are not reported, nor
is anything when `%post` sources the environment files.

## Why it matters
`%environment` is written into the image after `%post` has run; it is not visible during the
build. `$CONDA_DIR` in `%post` expands to nothing, and `pip install $CONDA_DIR/...` installs to
`/...`.

## Default severity
`warning`: the value is not there while %post runs, so the build uses another one.

## Example
```
%environment
    export APP_HOME=/opt/app
%post
    mkdir -p $APP_HOME
```

## Use instead
```
%environment
    export APP_HOME=/opt/app
%post
    APP_HOME=/opt/app
    mkdir -p $APP_HOME
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import Command, expansions
from defkit.model import Section

CODE = "DK402"
NAME = "environment-not-in-post"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")
#: Set in every build shell already; %environment only changes their value.
_ALWAYS_SET = frozenset(
    {"PATH", "HOME", "USER", "SHELL", "PWD", "TERM", "LANG", "LC_ALL", "HOSTNAME", "TMPDIR",
     "LD_LIBRARY_PATH", "MANPATH", "PS1", "IFS", "OLDPWD", "UID", "EUID", "SHLVL", "PYTHONPATH",
     "APPTAINER_ENVIRONMENT", "SINGULARITY_ENVIRONMENT", "DEBIAN_FRONTEND"}
)  # fmt: skip
_SOURCES_ENVIRONMENT = re.compile(r"90-environment\.sh|(^|\s)/environment\b|\.singularity\.d/env")


def _assigned(command: Command) -> set[str]:
    names = {m.group(1) for w in command.words for m in [_ASSIGNMENT.match(w.text)] if m}
    argv = command.argv
    if command.name in ("export", "local", "readonly", "declare", "typeset", "read", "unset"):
        names.update(word.value.split("=", 1)[0] for word in argv[1:])
    if command.words and command.words[0].value == "for" and len(command.words) > 1:
        names.add(command.words[1].value)
    return names


def _set_by(ctx: LintContext, sections: list[Section]) -> set[str]:
    names: set[str] = set()
    for section in sections:
        for command in ctx.commands(section):
            names |= _assigned(command)
    return names


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        posts = [s for s in stage.sections if s.name == "post"]
        if not posts or any(_SOURCES_ENVIRONMENT.search(s.body) for s in posts):
            continue
        environment = _set_by(ctx, [s for s in stage.sections if s.name == "environment"])
        candidates = environment - _set_by(ctx, posts) - _ALWAYS_SET
        if not candidates:
            continue
        reported: set[str] = set()
        for section in posts:
            for command in ctx.commands(section):
                for word in command.words + tuple(w for _, w in command.redirects if w):
                    for name, span in expansions(word):
                        if name in candidates and name not in reported:
                            reported.add(name)
                            yield Problem(
                                span,
                                f"`{name}` is set in %environment, which %post does not see",
                            )
