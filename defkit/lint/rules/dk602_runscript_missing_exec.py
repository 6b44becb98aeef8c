"""Checks that `%runscript` hands over to its program with `exec`.

## What it does
Reports the last command of a `/bin/sh` `%runscript` when no command of the runscript uses
`exec` and that last command runs a program (not a shell builtin such as `echo` or `cd`, and not
part of a pipeline, `&&`/`||` list, block or background job).

## Why it matters
Without `exec` the shell stays as the container's main process: signals such as `SIGTERM` from
a scheduler or `Ctrl-C` reach the shell, not your program, which may not shut down cleanly, and
the exit status is the shell's.

## Default severity
`info`: without `exec` the shell stays between Apptainer and the program (signals and exit codes
go to the shell); usually harmless.

## Example
```
%runscript
    python3 /opt/app/main.py "$@"
```

## Use instead
```
%runscript
    exec python3 /opt/app/main.py "$@"
```

## Fix
Inserts `exec ` when the runscript is this one command (with no variable assignments before it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.problem import Fix, Problem, Severity
from defkit.lint.rules._common import insert_before, sections
from defkit.lint.rules._shell import shell_of

CODE = "DK602"
NAME = "runscript-missing-exec"
SEVERITY: Severity = "info"
OPTIONS: dict[str, object] = {}
FIXABLE = True

#: Commands that are not "the program": builtins, block keywords, and clean-up steps.
_NOT_A_PROGRAM = frozenset(
    {"echo", "printf", "cd", "export", "source", ".", "set", "unset", "exit", "return", "true",
     "false", ":", "test", "[", "[[", "shift", "alias", "umask", "ulimit", "trap", "wait", "eval",
     "read", "local", "fi", "done", "esac", "}", ")", "then", "else", "do", "rm", "cp", "mv",
     "mkdir", "touch", "ln", "chmod", "cat", "sleep", "kill", "exec", "case", "for", "while",
     "if", "until", "function", "usage", "help"}
)  # fmt: skip


def check(ctx: LintContext) -> Iterator[Problem]:
    for _, section in sections(ctx.deffile, "runscript"):
        if shell_of(section) not in ("sh", "bash", "dash"):
            continue
        found = list(ctx.commands(section))
        if not found or any(word.value == "exec" for command in found for word in command.words):
            continue
        last = found[-1]
        if last.before not in ("", "\n", ";") or last.after not in ("", "\n", ";"):
            continue
        if not last.argv or last.name in _NOT_A_PROGRAM or last.name[:1] in "$(`{":
            continue
        if any(command.words[0].value in ("if", "case", "for", "while", "until", "function", "{")
               or command.words[-1].value in ("{", "then", "do") for command in found
               if command.words):  # fmt: skip
            continue  # the last command may sit inside a block; leave it alone
        program = last.argv[0]
        fix: Optional[Fix] = None
        if len(found) == 1 and last.words[0] is program:
            fix = Fix("Add `exec`", (insert_before(program.span, "exec "),))
        yield Problem(
            program.span, f"`{last.name}` runs without `exec`: signals go to the shell", fix
        )
