"""Checks that `conda`, `mamba` and `micromamba` create and install without asking.

## What it does
Reports `conda`/`mamba`/`micromamba` `create`, `install`, `update`, `remove` (and `env
remove`) without `-y`/`--yes`. (`env create` and `env update` do not ask.)

## Why it matters
An `apptainer build` run from a terminal stops at `Proceed ([y]/n)?` until someone answers it.
Without a terminal (CI, a batch job) the prompt reads end of input and takes its default, which
is yes for conda's and libmamba's prompts alike, so the build goes on. Setting `always_yes` in a
`.condarc` or `CONDA_ALWAYS_YES` also answers it.

## Default severity
`info`, and off by default (select it): an interactive build waits for an answer, but no build
fails and the image is the same. It was a warning on by default while the rule said the prompt
aborts; conda's `confirm` and libmamba's `Console::prompt` both take an empty reply (end of
input) as the default, yes. On by default it printed 108 lines over 36 of 343 real recipes.

## Example
```
%post
    conda create -n work python=3.12
```

## Use instead
```
%post
    conda create -y -n work python=3.12
```

## Fix
Inserts `-y` after the subcommand.
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Fix, Problem, Severity
from defkit.lint.rules._common import insert_after
from defkit.lint.rules._shell import all_script_sections

CODE = "DK318"
NAME = "conda-missing-y"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # the build goes on without a terminal: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = True

_CONDAS = frozenset({"conda", "mamba", "micromamba"})
_PROMPTING = frozenset({"create", "install", "update", "upgrade", "remove", "uninstall"})


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None or "always_yes" in ctx.text.lower():
        return
    for section in all_script_sections(ctx.deffile):
        for command in ctx.commands(section):
            if command.name not in _CONDAS:
                continue
            words = [word for word in command.argv[1:] if not word.value.startswith("-")]
            flags = {word.value for word in command.argv[1:] if word.value.startswith("-")}
            if not words:
                continue
            sub = words[0]
            if sub.value == "env":
                if len(words) < 2 or words[1].value != "remove":
                    continue  # `env create` / `env update` never ask
                sub = words[1]
            elif sub.value not in _PROMPTING:
                continue
            if flags & {"-y", "--yes"} or any(
                flag.startswith("-") and not flag.startswith("--") and "y" in flag[1:]
                for flag in flags
            ):
                continue
            yield Problem(
                command.argv[0].span,
                f"`{command.name} {sub.value}` without `-y` asks for confirmation: a build run "
                "from a terminal waits at the prompt",
                Fix("Add `-y`", (insert_after(sub.span, " -y"),)),
            )
