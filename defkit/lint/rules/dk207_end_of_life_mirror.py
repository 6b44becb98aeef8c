"""Checks for package mirrors of end-of-life distributions, which no longer serve packages.

## What it does
Reports:
- `mirror.centos.org` or `mirrorlist.centos.org` in `MirrorURL:` or in a script section (CentOS
  7 and 8 are end of life; those hosts no longer serve their repositories);
- a `debootstrap` stage of an archived Debian release (`wheezy`, `jessie`, `stretch`, `buster`)
  or Ubuntu interim release whose `MirrorURL:` is not the archive (`archive.debian.org`,
  `old-releases.ubuntu.com`).

## Why it matters
The build fails when the package manager fetches its metadata (`Cannot find a valid baseurl for
repo: base/7/x86_64`, `404 Not Found`). The packages live on in the vaults, frozen and without
security updates; a maintained release is the lasting fix.

## Default severity
`warning`: the build fails today, even if the file once worked.

## Example
```
Bootstrap: yum
OSVersion: 7
MirrorURL: http://mirror.centos.org/centos-%{OSVERSION}/%{OSVERSION}/os/$basearch/
Include: yum
```

## Use instead
```
Bootstrap: docker
From: rockylinux:9
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.model import Span

CODE = "DK207"
NAME = "end-of-life-mirror"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_CENTOS = re.compile(r"\bmirror(?:list)?\.centos\.org\b", re.IGNORECASE)
_CENTOS_MESSAGE = (
    "CentOS 7 and 8 are end of life and mirror.centos.org no longer serves them: use "
    "vault.centos.org (frozen, no updates) or a maintained distribution (Rocky Linux, AlmaLinux)"
)
#: Releases whose packages moved to the archive, and where the archive is.
_ARCHIVED = {
    **dict.fromkeys(("wheezy", "jessie", "stretch", "buster"), "archive.debian.org"),
    **dict.fromkeys(
        ("precise", "quantal", "raring", "saucy", "utopic", "vivid", "wily", "yakkety", "zesty",
         "artful", "cosmic", "disco", "eoan", "groovy", "hirsute", "impish", "kinetic", "lunar",
         "mantic"),
        "old-releases.ubuntu.com",
    ),
}  # fmt: skip


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        mirror = stage.header_entry("mirrorurl")
        if mirror is not None and _CENTOS.search(mirror.value):
            yield Problem(mirror.value_span, _CENTOS_MESSAGE)
        release = (stage.header_value("osversion") or "").strip().lower()
        archive = _ARCHIVED.get(release)
        if (
            stage.bootstrap == "debootstrap"
            and archive is not None
            and mirror is not None
            and archive not in mirror.value
        ):
            yield Problem(
                mirror.value_span,
                f"`{release}` is end of life and its packages moved to {archive}: this "
                "mirror no longer has them",
            )
        for section in stage.sections:
            if not section.is_script or "centos.org" not in section.body:
                continue
            for number, line in enumerate(section.body.split("\n"), section.body_line):
                found = _CENTOS.search(line)
                if found is None:
                    continue
                offset = section.body_column_offset if number == section.body_line else 0
                column = found.start() + 1 + offset
                yield Problem(
                    Span(number, column, number, column + len(found.group())), _CENTOS_MESSAGE
                )
