""".dockerignore for COPY/ADD of context directories, with Docker's rules (moby/patternmatcher).

Apptainer's %files has no exclusions, so the staged copy of a context directory is pruned in
%post, before it is moved into place (files such as `.env` must not reach the image). Rules:
`#` lines and blank lines are skipped; a leading `!` re-includes; patterns are cleaned and made
relative to the context; `*` and `?` do not cross `/`; `**` matches any number of directories; a
pattern also matches a path whose leading directories it matches; the last matching pattern
wins. The patterns become anchored regular expressions run by `awk` inside the container.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    """One .dockerignore line, compiled."""

    text: str
    regex: str  # POSIX ERE, anchored
    negated: bool
    depth: int  # number of path components (matched against leading directories too)


def parse(text: str) -> list[Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:].strip()
        line = posixpath.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        patterns.append(Pattern(line, _regex(line), negated, len(line.split("/"))))
    return patterns


def _regex(pattern: str) -> str:
    out = ["^"]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            if index < len(pattern) and pattern[index] == "*":
                index += 1
                if index < len(pattern) and pattern[index] == "/":
                    index += 1
                    out.append("(.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                out.append("\\[")
                continue
            body = pattern[index:end]
            if body.startswith("^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "") + "]")
            index = end + 1
        elif char == "\\" and index < len(pattern):
            out.append(_escape(pattern[index]))
            index += 1
        else:
            out.append(_escape(char))
    out.append("$")
    return "".join(out)


def _escape(char: str) -> str:
    return "\\" + char if char in ".^$+?()[]{}|\\" else char


def helper(patterns: list[Pattern]) -> str:
    """The `defkit_ignore STAGED CONTEXT_PATH` shell function for these patterns."""
    rules = []
    for pattern in patterns:
        regex = pattern.regex.replace("\\", "\\\\").replace('"', '\\"')
        excluded = 0 if pattern.negated else 1
        rules.append(f'        if (m(p, "{regex}", {pattern.depth})) x = {excluded}')
    program = "\n".join(
        [
            "    function m(p, re, k,   n, a, i, q) {",
            "        if (p ~ re) return 1",
            "        n = split(p, a, \"/\")",
            "        if (k >= n) return 0",
            "        q = a[1]",
            "        for (i = 2; i <= k; i++) q = q \"/\" a[i]",
            "        return q ~ re",
            "    }",
            "    {",
            "        p = substr($0, 3)",
            "        if (base != \".\") p = base \"/\" p",
            "        x = 0",
            *rules,
            "        if (x) print substr($0, 3)",
            "    }",
        ]
    )
    return (
        "# defkit_ignore DIR CONTEXT_PATH: remove what .dockerignore excludes from a staged copy.\n"
        "defkit_ignore() {\n"
        "    if ! command -v awk >/dev/null 2>&1; then\n"
        '        echo "defkit: awk is needed to apply .dockerignore" >&2\n'
        "        return 1\n"
        "    fi\n"
        '    [ -d "$1" ] || return 0\n'
        '    (cd "$1" && find . -mindepth 1 -depth) | awk -v base="$2" \'\n'
        + program.replace("'", "'\\''")
        + "\n    ' | while IFS= read -r defkit_p; do rm -rf \"$1/$defkit_p\"; done\n"
        "}\n"
    )
