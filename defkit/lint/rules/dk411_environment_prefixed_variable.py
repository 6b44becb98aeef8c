"""Checks for `SINGULARITYENV_`/`APPTAINERENV_` variables set inside `%environment`.

## What it does
Reports, in `%environment` and `%appenv` sections, assignments and exports of variables whose
name starts with `APPTAINERENV_` or `SINGULARITYENV_`, or with a misspelling of these
prefixes (`APPTAINER_ENV_`, `SINGULARITY_ENV_`, `APPTAINERENVS_`, `SINGULARTYENV_`, ...).

## Why it matters
The prefixes are read from the host's environment when a container starts, and passed in
without them (`APPTAINERENV_FOO=1 apptainer run` sets `FOO`). Inside the image's
`%environment` they do nothing: the variable keeps its long name and `FOO` is not set. The
misspelled forms are never recognised anywhere.

## Default severity
`warning`: the variable the author meant is not set in the container.

## Example
```
%environment
    export APPTAINERENV_OMP_NUM_THREADS=4
```

## Use instead
```
%environment
    export OMP_NUM_THREADS=4
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import Word

CODE = "DK411"
NAME = "environment-prefixed-variable"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_PREFIXES = ("APPTAINERENV_", "SINGULARITYENV_")
# The prefixes with a stray `_`, an `S`, or a letter left out or swapped, as seen in recipes.
_LOOKALIKE = re.compile(r"^(?:AP+TA?I?NE?R|SI?NGU?LA?R?I?T?Y)_?ENVS?_", re.IGNORECASE)
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


def _assigned(word: Word) -> str:
    found = _NAME.match(word.value)
    return found.group(1) if found else ""


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.name not in ("environment", "appenv"):
                continue
            for command in ctx.commands(section):
                for word in command.words:
                    name = _assigned(word) or (
                        word.value if command.name in ("export", "declare") else ""
                    )
                    prefix = _LOOKALIKE.match(name) if name else None
                    if prefix is None:
                        continue
                    meant = name[prefix.end() :]
                    if name.startswith(_PREFIXES):
                        why = "the prefix is read from the host's environment at start-up, not"
                        yield Problem(
                            word.span,
                            f"`{name}` has no effect in %environment ({why} here): "
                            f"set `{meant}` instead",
                        )
                    else:
                        yield Problem(
                            word.span,
                            f"`{name}` looks like a misspelt APPTAINERENV_/SINGULARITYENV_ "
                            f"prefix, which would not work here either: set `{meant}` instead",
                        )
