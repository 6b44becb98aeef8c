"""Checks for downloaded scripts run straight from the network.

## What it does
Reports `curl ... | sh` and `wget -O- ... | bash` (any shell, `python` or `perl`, also behind
`sudo`), and `sh -c "$(curl ...)"` or `bash <(curl ...)`.

## Why it matters
Whatever the server returns at build time runs as root in the image, unreviewed and unpinned;
a truncated download runs half a script. The build cannot be reproduced.

## Default severity
`info`: the script runs as root with nothing to check it against, but over `https` it comes from
the vendor the recipe already trusts (rustup, get-pip, cpanminus are installed this way by their
own instructions), as much as a downloaded tarball that is then built. A plain-http or
unchecked-certificate download, which anyone on the way can change, is `insecure-download`, a
warning.

## Example
```
%post
    curl -fsSL https://get.example.com/install.sh | sh
```

## Use instead
```
%post
    curl -fsSLo /tmp/install.sh https://get.example.com/v1.2.3/install.sh
    echo "<sha256>  /tmp/install.sh" | sha256sum -c -
    sh /tmp/install.sh
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import all_script_sections

CODE = "DK309"
NAME = "curl-pipe-shell"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = False

_FETCHERS = frozenset({"curl", "wget"})
_RUNNERS = re.compile(r"(sh|bash|dash|zsh|ksh|ash|python[0-9.]*|perl|ruby)$")
_SUBSTITUTED = re.compile(r"(\$\(|<\(|`)\s*(curl|wget)\b")


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for section in all_script_sections(ctx.deffile):
        fetch = None
        for command in ctx.commands(section):
            if fetch is not None and command.before == "|" and _RUNNERS.match(command.name):
                yield Problem(fetch, f"`{command.name}` runs a script piped from the network")
            if command.name in _FETCHERS and command.head is not None:
                fetch = command.head.span  # `curl ... | gunzip | sh` still runs the download
            if fetch is None and _RUNNERS.match(command.name):
                for word in command.argv[1:]:
                    if _SUBSTITUTED.search(word.text):
                        yield Problem(
                            word.span, f"`{command.name}` runs a script fetched from the network"
                        )
            if command.after not in ("|", "|&"):
                fetch = None
