"""Reports header keys Apptainer (or SingularityCE) does not accept, with a did-you-mean.

## What it does
Checks every `Key: value` line of each stage header against the keys the target accepts
(`Bootstrap`, `From`, `MirrorURL`, `OSVersion`, `Include`, `Stage`, ... and `OtherURL<n>`). The
`flavour` setting picks the list: SingularityCE lacks `ConfURL`, `Target`, `Frontend`,
`Filename` and `BuildArgs`. A close match is suggested and applied by `--fix`.

## Why it matters
The build stops with `invalid header keyword found`; legacy Singularity 2 keys such as
`DistType` and misspellings such as `Bootsrap` are only found then.

## Default severity
`error`: Apptainer rejects an unknown header keyword; it always fails the run.

## Example
```
Bootsrap: docker
From: ubuntu:24.04
```

## Use instead
```
Bootstrap: docker
From: ubuntu:24.04
```
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any, Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Edit, Fix, Problem, Severity
from defkit.model import HeaderEntry, Span

CODE = "DK003"
NAME = "unknown-header-key"
SEVERITY: Severity = "error"
OPTIONS: dict[str, Any] = {}
FIXABLE = True

#: Lowercased key -> the spelling the documentation uses (used for suggestions).
SINGULARITYCE_KEYS: dict[str, str] = {
    key.lower(): key
    for key in [
        "Bootstrap",
        "From",
        "IncludeCmd",
        "MirrorURL",
        "UpdateURL",
        "OSVersion",
        "Include",
        "Library",
        "Registry",
        "Namespace",
        "Stage",
        "Product",
        "User",
        "Regcode",
        "ProductPGP",
        "RegisterURL",
        "Modules",
        "Fingerprints",
        "SetOpt",
    ]
}
APPTAINER_KEYS: dict[str, str] = {
    **SINGULARITYCE_KEYS,
    **{key.lower(): key for key in ("ConfURL", "Target", "Frontend", "Filename", "BuildArgs")},
}
_NUMBERED = re.compile(r"^otherurl[0-9]+$")  # the only key with a numeric suffix


def valid_keys(flavour: str) -> dict[str, str]:
    return SINGULARITYCE_KEYS if flavour == "singularityce" else APPTAINER_KEYS


def is_valid(key: str, flavour: str) -> bool:
    return key in valid_keys(flavour) or _NUMBERED.match(key) is not None


def suggestion(key: str, flavour: str) -> Optional[str]:
    keys = valid_keys(flavour)
    matches = difflib.get_close_matches(key.lower(), list(keys), n=1, cutoff=0.75)
    return keys[matches[0]] if matches else None


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    flavour = ctx.settings.flavour
    for stage in ctx.deffile.stages:
        for entry in stage.header:
            if not is_valid(entry.key, flavour):
                yield _problem(entry, flavour)


def _problem(entry: HeaderEntry, flavour: str) -> Problem:
    written = entry.raw_key.strip()
    start = entry.span.column + (len(entry.raw_key) - len(entry.raw_key.lstrip()))
    key_span = Span(entry.span.line, start, entry.span.line, start + len(written))
    if flavour == "singularityce" and entry.key in APPTAINER_KEYS:
        message = f"header key {written!r} is Apptainer-only; SingularityCE rejects it"
        return Problem(span=key_span, message=message)
    if len(written.split()) > 1:
        shown = written if len(written) <= 40 else written[:39] + "…"
        message = f"not a `Key: value` header line (Apptainer reads the key as {shown!r})"
        return Problem(span=key_span, message=message)
    guess = suggestion(entry.key, flavour)
    if guess is None:
        return Problem(span=key_span, message=f"unknown header key {written!r}")
    fix = Fix(f"rename to {guess}", (Edit(key_span, guess),))
    return Problem(
        span=key_span, message=f"unknown header key {written!r}; did you mean {guess!r}?", fix=fix
    )
