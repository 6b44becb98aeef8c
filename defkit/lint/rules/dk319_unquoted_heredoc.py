r"""Checks for here-documents in `%post` whose variables are expanded at build time.

## What it does
Reports a here-document written to a file that is run or sourced later (a script starting with
`#!`, a file under a `bin` directory, `/.singularity.d/`, `/etc/profile*`, `*.sh`) in `%post` or
`%appinstall`, whose delimiter is not quoted and whose body expands a variable or runs a
command (`$HOME`, `${PATH}`, `$(date)`), at the first such expansion. A body that escapes some
`$` (`\$HOME`) expands the rest on purpose and is not reported; configuration files written
with build-time values (`sources.list` with `${CODENAME}`) are not either.

## Why it matters
With an unquoted delimiter the shell expands the body while `%post` runs, so the file gets the
build's values: a wrapper script or `/.singularity.d/env/` file written this way has the
builder's `$PATH`, `$HOME` or an empty `$1` baked in, instead of looking them up when the
container runs. When the build-time value is what you want, say so by quoting the parts that
must stay (`\$HOME`); otherwise quote the delimiter.

## Default severity
`warning`: the file works differently from how it reads, and usually not as meant.

## Example
```
%post
    cat > /usr/local/bin/tool <<EOF
    #!/bin/sh
    exec /opt/tool/bin/tool "$@"
    EOF
```

## Use instead
```
%post
    cat > /usr/local/bin/tool <<'EOF'
    #!/bin/sh
    exec /opt/tool/bin/tool "$@"
    EOF
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._shell import Command, heredoc_body
from defkit.model import Span

CODE = "DK319"
NAME = "unquoted-heredoc"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, object] = {}
FIXABLE = False

#: Files that are run or sourced later, when the container runs (their `$` is meant for then).
_RUN_LATER = re.compile(
    r"\.(?:sh|bash|zsh|csh|ksh)$|/\.singularity\.d/|/etc/profile|bashrc|/bin/|/sbin/|/libexec/"
)
#: `$NAME`, `${...}`, `$(...)`, `$1`, `$@`, a backquote; not after a backslash.
_EXPANSION = re.compile(
    r"(?<!\\)(\$\{[^}\n]*\}?|\$\([^)\n]*\)?|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?]|`)"
)


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    for stage in ctx.deffile.stages:
        for section in stage.sections:
            if section.name not in ("post", "appinstall") or "<<" not in section.body:
                continue
            for command in ctx.commands(section):
                target = _target(command)
                if target is None:
                    continue
                for heredoc in command.heredocs:
                    if heredoc.quoted:
                        continue  # quoted delimiter: the body is written as it is
                    body = heredoc_body(command, heredoc)
                    if "\\$" in "".join(text for _, text in body):
                        continue  # some `$` escaped: what is expanded is expanded on purpose
                    script = bool(body) and body[0][1].lstrip().startswith("#!")
                    if not (script or _RUN_LATER.search(target)):
                        continue  # a configuration file: build-time values are what it wants
                    found = _first_expansion(body)
                    if found is not None:
                        span, text = found
                        yield Problem(
                            span,
                            f"`{text}` in this here-document is expanded while %post runs, so "
                            f"the file gets its build-time value: quote the delimiter "
                            f"(<<'{heredoc.delimiter}') or escape it (\\{text})",
                        )


def _target(command: Command) -> Optional[str]:
    """The file a command writes its input to (`cat > file`, `tee file`), or None."""
    for op, word in command.redirects:
        if op in (">", ">>", ">|") and word is not None:
            return word.value
    if command.name == "tee":
        files = [word.value for word in command.argv[1:] if not word.value.startswith("-")]
        return files[0] if files else None
    return None


def _first_expansion(body: list[tuple[int, str]]) -> Optional[tuple[Span, str]]:
    """The first expansion in the body, and its text."""
    for number, text in body:
        found = _EXPANSION.search(text)
        if found is not None:
            column = found.start() + 1
            return Span(number, column, number, found.end() + 1), found.group()
    return None
