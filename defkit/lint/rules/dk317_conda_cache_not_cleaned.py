"""Checks that conda installs in the final image are followed by `conda clean`.

## What it does
Reports the last `conda`, `mamba` or `micromamba` `install`, `create`, `update` or
`env create`/`env update` in the final stage's `%post` when no later `conda clean`
(`mamba clean`, `micromamba clean`) or removal of the `pkgs` directory follows.

## Why it matters
conda keeps every downloaded package tarball and its extracted copy in `pkgs/`: often more than
the environment itself, shipped in the image for nothing.

## Default severity
`info`, and off by default (select it): a larger image, not a broken one. The image-size hints
are opt-in so that a default run stays short.

## Example
```
%post
    /opt/conda/bin/conda install -y -c conda-forge numpy=2.1
```

## Use instead
```
%post
    /opt/conda/bin/conda install -y -c conda-forge numpy=2.1
    /opt/conda/bin/conda clean -afy
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._packages import left_in_image
from defkit.lint.rules._shell import Command, Word

CODE = "DK317"
NAME = "conda-cache-not-cleaned"
SEVERITY: Severity = "info"
ENABLED_BY_DEFAULT = False  # image size: opt in with `select`
OPTIONS: dict[str, object] = {}
FIXABLE = False

_CONDAS = frozenset({"conda", "mamba", "micromamba"})
_FILLING = frozenset({"install", "create", "update"})


def _subcommands(command: Command) -> list[str]:
    """The first words after the program that are not options (`env`, `create`)."""
    return [word.value for word in command.argv[1:3] if not word.value.startswith("-")]


def _fills(command: Command) -> Optional[Word]:
    if command.name not in _CONDAS:
        return None
    words = _subcommands(command)
    if words[:1] and (
        words[0] in _FILLING or (words[0] == "env" and words[1:2] in (["create"], ["update"]))
    ):
        return command.argv[0]
    return None


def _cleans(command: Command) -> bool:
    if command.name in _CONDAS:
        return _subcommands(command)[:1] == ["clean"]
    return command.name == "rm" and any(
        word.value.rstrip("/*").endswith("/pkgs") for word in command.argv
    )


def check(ctx: LintContext) -> Iterator[Problem]:
    last = left_in_image(ctx, _fills, _cleans)
    if last is not None:
        name = last.value.rsplit("/", 1)[-1]
        yield Problem(
            last.span, f"{name}'s package cache is left in the image; run `{name} clean -a`"
        )
