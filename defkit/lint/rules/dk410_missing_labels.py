"""Checks that the image gets labels.

## What it does
Reports a final stage without `%labels` (labels written to `$APPTAINER_LABELS` in `%post` count
too). With `required-labels` configured, also reports each required key that the final stage
does not set.

## Why it matters
Labels are how users and registries find out who maintains an image, what version of the
software it holds and where its source is (`apptainer inspect`). Two thirds of public recipes
have none.

## Default severity
`info`, and off by default (select it; `required-labels` then lists the keys it asks for):
labels are a project's convention, not a defect.

## Example
```
Bootstrap: docker
From: ubuntu:24.04
```

## Use instead
```
Bootstrap: docker
From: ubuntu:24.04

%labels
    Author jane@example.org
    Version 1.0
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import final_stage, section_name_span, stage_anchor

CODE = "DK410"
NAME = "missing-labels"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
ENABLED_BY_DEFAULT = False  # labels are a project convention: opt in with `select`
FIXABLE = False


def check(ctx: LintContext) -> Iterator[Problem]:
    stage = final_stage(ctx.deffile)
    if stage is None:
        return
    sections = stage.sections_named("labels")
    keys = {label.key for section in sections for label in section.labels}
    written_in_post = "_LABELS" in stage.script("post")
    if not sections and not written_in_post:
        yield Problem(stage_anchor(stage), "the image has no %labels")
        return
    if written_in_post:
        return  # keys written at build time cannot be checked here
    anchor = section_name_span(sections[0])
    for required in ctx.settings.required_labels:
        if required not in keys:
            yield Problem(anchor, f"required label `{required}` is missing")
