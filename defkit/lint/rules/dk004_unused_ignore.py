"""Reports `# defkit: ignore=...` comments that suppress nothing.

## What it does
Reports a suppression comment, or one code in it, that matched no finding: the problem was fixed,
the rule was renamed, the comment sits on the wrong line, or the code is misspelt. A comment that
starts with `# defkit:` but is not a valid directive is reported too. Only codes of rules that are
enabled are checked, so turning a rule off does not make its suppressions "unused". The linter
computes these findings after all other rules ran.

## Why it matters
Stale suppressions hide the next real problem on that line and mislead readers about what the
code needs. Like ruff's `RUF100`, this keeps them honest.

## Default severity
`warning`: a suppression that matches nothing hides nothing today but will hide a real finding
later; it is cheap to remove (`--fix`).

## Example
```
%post
    # defkit: ignore=apt-get-missing-y -- CI image
    apt-get install -y curl
```

## Use instead
```
%post
    apt-get install -y curl
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity

CODE = "DK004"
NAME = "unused-ignore"
SEVERITY: Severity = "warning"
OPTIONS: dict[str, Any] = {}
FIXABLE = True


def check(ctx: LintContext) -> Iterator[Problem]:
    # Unused suppressions are only known once every other rule has run: `defkit.lint.suppress`
    # produces them, and the linter stamps them with this module's code and severity.
    return iter(())
