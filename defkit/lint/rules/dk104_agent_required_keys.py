"""Checks that header keys an agent requires are present.

## What it does
Reports a stage whose agent misses a key it cannot work without: `debootstrap` needs `OSVersion`
and `MirrorURL`; `yum`/`dnf` need `MirrorURL`, and `OSVersion` when the mirror URL contains
`%{OSVERSION}`; `busybox` needs `MirrorURL`; `zypper` takes SLE registration `Product`, `User`
and `Regcode` all together or not at all.

## Why it matters
The parser accepts the file; the agent fails at build time, after the build has started.

## Default severity
`error`: the agent stops without these keys; the build fails.

## Example
```
Bootstrap: debootstrap
OSVersion: jammy
```

## Use instead
```
Bootstrap: debootstrap
OSVersion: jammy
MirrorURL: http://archive.ubuntu.com/ubuntu/
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Stage

CODE = "DK104"
NAME = "agent-required-keys"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_REQUIRED = {
    "debootstrap": ("OSVersion", "MirrorURL"),
    "yum": ("MirrorURL",),
    "dnf": ("MirrorURL",),
    "busybox": ("MirrorURL",),
}
_SLE_KEYS = ("Product", "User", "Regcode")


def _missing(stage: Stage, agent: str) -> list[str]:
    missing = [key for key in _REQUIRED.get(agent, ()) if not stage.header_value(key.lower())]
    if agent in ("yum", "dnf") and not stage.header_value("osversion"):
        urls = (stage.header_value("mirrorurl") or "") + (stage.header_value("updateurl") or "")
        if "%{osversion}" in urls.lower():
            missing.append("OSVersion (the mirror URL uses %{OSVERSION})")
    if agent == "zypper":
        present = [key for key in _SLE_KEYS if stage.header_value(key.lower())]
        if present and len(present) < len(_SLE_KEYS):
            missing += [key for key in _SLE_KEYS if key not in present]
    return missing


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        bootstrap = stage.header_entry("bootstrap")
        if bootstrap is None:
            continue
        missing = _missing(stage, bootstrap.value)
        if missing:
            keys = ", ".join(f"`{key}`" if " " not in key else key for key in missing)
            yield Problem(bootstrap.span, f"`Bootstrap: {bootstrap.value}` needs {keys}")
