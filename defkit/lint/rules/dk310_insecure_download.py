"""Checks for downloads that skip transport security.

## What it does
Reports plain `http://` URLs given to `curl`, `wget`, `aria2c`, `git`, `pip`, `rpm` and
`conda`, and options that turn certificate checks off: `curl -k`/`--insecure`,
`wget --no-check-certificate`, `pip --trusted-host`, `git -c http.sslVerify=false`.
`http://localhost` and `127.0.0.1` are not reported; apt and yum repository lines are not
judged (their packages are signed).

## Why it matters
Anything on the network path can replace what you download, and the build runs it as root in
the image.

## Default severity
`warning`: plain HTTP or disabled certificate checks let anyone on the path change what is
installed, as root, into an image others run. Kept a warning after the review of the defaults
although it is the most common reason a real recipe fails a default run (17 of 343 corpus
files): each of those is such a download.

## Example
```
%post
    wget http://example.org/tool-1.0.tar.gz
```

## Use instead
```
%post
    wget https://example.org/tool-1.0.tar.gz
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import all_script_sections

CODE = "DK310"
NAME = "insecure-download"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_DOWNLOADERS = frozenset({"curl", "wget", "aria2c", "git", "pip", "pip3", "rpm", "conda"})
_INSECURE_OPTIONS = {
    "curl": ("-k", "--insecure"),
    "wget": ("--no-check-certificate",),
    "pip": ("--trusted-host",),
    "pip3": ("--trusted-host",),
}
_LOCAL = ("http://localhost", "http://127.0.0.1", "http://0.0.0.0", "http://[::1]")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for section in all_script_sections(ctx.deffile):
        for command in ctx.commands(section):
            name = command.name
            if name not in _DOWNLOADERS:
                continue
            for word in command.argv[1:]:
                value = word.value
                if value.startswith("http://") and not value.startswith(_LOCAL):
                    yield Problem(word.span, f"`{name}` fetches over plain http")
                elif (
                    value in _INSECURE_OPTIONS.get(name, ())
                    or (
                        name == "curl"
                        and value.startswith("-")
                        and not value.startswith("--")
                        and "k" in value
                    )
                    or value.lower().replace(" ", "") == "http.sslverify=false"
                ):
                    yield Problem(word.span, f"`{value}` turns off certificate checks")
