"""How ShellCheck's findings become defkit findings: their level, and the ones that are moot.

This is the one place that decides it (`defkit.lint.shellcheck` calls `severity` for each comment
ShellCheck makes, and drops those `moot` says are false).

Levels. ShellCheck's `error` and `warning` stay `error` and `warning`, so they fail a default run
(`fail-on: warning`): syntax errors, bashisms under `/bin/sh` (dash on Debian and Ubuntu bases),
unclosed quotes, `rm -rf "$VAR/"`, ... break the build or the image whatever the values. The
warnings in `INFO_WARNINGS` become `info`: each is about what *might* happen for some values or
if a command failed, which a build script decides (it sets its own variables and runs under
`sh -e`), so it is worth reading when asked for but not worth failing CI for. ShellCheck's
`info` and `style` stay `info` and `style`.

Which levels are reported: ShellCheck is asked for everything (`-S style`), and the linter keeps
(after inline suppression, so an ignore of a finding below the level is not reported unused)
the findings whose level (the mapping above, or the level a `severity` override gives the code)
reaches `shellcheck: {severity: ...}`, whose default is `warning`. So a default run shows the
ShellCheck findings that fail it and nothing else: at `style`, `SC2086` alone put more than one
finding on every file of the real recipes in the corpus, nearly all of them a `$VAR` the script
set itself, and `SC2046` is mostly `make -j$(nproc)`. Get everything with `shellcheck:
{severity: style}`; raise one code with `severity: {SC2086: warning}` (it is then kept, and
fails the run).

Moot findings. How Apptainer runs each section makes some findings false:
- `%setup`, `%post` (and `%appinstall`, appended to it) and `%pre` run as `/bin/sh -e`, so a
  failed `cd` already stops the build: `SC2164` is not reported there (see `ERREXIT_EXCLUDED` in
  `defkit.lint.shellcheck`). `%test`, `%runscript` and `%startscript` are files run by their
  `#!` line (`#!/bin/sh` by default), without `-e`: there it is reported, at `info`. The inner
  shell of `%post -c /bin/bash` has no `-e` either, but there *every* failing command is
  ignored, not only `cd`; SC2164 stays excluded there rather than repeat that once per `cd`.
- `{{ NAME }}` placeholders are checked as same-length text, so a test or `case` on one is a
  constant expression to ShellCheck, which it is not once Apptainer fills it in: the codes of
  `TEMPLATED_CONSTANT` are dropped on lines that hold a placeholder.
- `SC3037` ("echo flags are undefined in POSIX sh") is about the shell's builtin `echo`; an
  explicit `/bin/echo -e` runs the image's echo program (coreutils or busybox), which has them.
"""

from __future__ import annotations

import re

from defkit.lint.problem import Severity

#: ShellCheck warnings reported at `info`, and why they do not fail a default run.
INFO_WARNINGS: dict[str, str] = {
    "SC2164": "`cd` without `|| exit`: only where `-e` is off, and then the next command fails",
    "SC2155": "`export X=$(cmd)` hides cmd's exit status: a risk only when cmd can fail",
    "SC2046": "unquoted `$(...)` is split: build scripts split on purpose (`make -j$(nproc)`)",
    "SC2034": "an assignment nothing reads: dead code, not a broken build",
    "SC2043": "a loop over one word: usually a list with one entry so far",
    "SC1083": "a literal `{` or `}`: arguments such as `svn -r {2024-01-01}` mean it",
    "SC2226": "`ln` without a destination links into the current directory, as meant",
}
#: Constant-expression findings that are false when the expression holds a `{{ placeholder }}`.
TEMPLATED_CONSTANT = frozenset({"SC2050", "SC2157", "SC2193", "SC2194"})
#: `echo` flags (SC3037) given to the echo program rather than the shell's builtin.
_EXTERNAL_ECHO = re.compile(r"(?:^|[\s;&|(`])/(?:usr/)?bin/echo\s+(?:-\w+\s+)*$")
MOOT_CODES = TEMPLATED_CONSTANT | {"SC3037"}
_LEVELS: tuple[Severity, ...] = ("error", "warning", "info", "style")


def severity(code: str, level: str) -> Severity:
    """defkit's level for a ShellCheck finding `code` (`SC2164`) at ShellCheck's `level`."""
    if level == "warning" and code in INFO_WARNINGS:
        return "info"
    for known in _LEVELS:
        if level == known:
            return known
    return "warning"


def moot(code: str, lines: list[str], column: int) -> bool:
    """Whether finding `code`, on `lines` of the script (starting at 0-based `column` of the
    first), is false for the script Apptainer runs."""
    if code in TEMPLATED_CONSTANT:
        return any("{{" in line for line in lines)
    if code == "SC3037" and lines:
        return _EXTERNAL_ECHO.search(lines[0][:column]) is not None
    return False
