"""Arbitrary input never crashes the linter or the fixer (a crash would be exit code 3)."""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from defkit.lint.config import LintConfig
from defkit.lint.fix import fix_text
from defkit.lint.linter import lint_text
from defkit.report import FORMATS, Report
from tests.shared import SHARED


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft4Validator:
    schema = (SHARED / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
    return jsonschema.Draft4Validator(json.loads(schema))


FRAGMENTS = [
    "Bootstrap: docker",
    "Bootstrap: Docker",
    "Bootsrap: yum",
    "From: ubuntu:latest",
    "From: {{ BASE }}",
    "From:",
    "Stage: build",
    "OSVersion: 9",
    "MirrorURL: http://ports.ubuntu.com/",
    "key \\",
    "%post",
    "%post -c /bin/bash",
    "%post -c",
    "%runscript",
    "#!/usr/bin/env python3",
    "%environments",
    "  %post",
    "%apprun tool",
    "%APPRUN",
    "%files from build",
    "%files",
    '    "a b',
    '"',
    "%labels",
    "    Author: me",
    "%arguments",
    "    VERSION=1",
    "%test",
    "%help",
    "    apt install -y curl && rm -rf /var/lib/apt/lists/*",
    "    curl -k http://x | sh",
    "    pip install numpy",
    "    cat <<EOF",
    "EOF",
    "    echo {{ VERSION }} $@ $* `date`",
    "    [[ -f x ]] && source y",
    '    exec "$@"',
    "# defkit: ignore=DK002,all -- why",
    "# defkit: ignore-file=unknown-section",
    "# defkit: ignor=",
    "\t\tmixed   ",
    "",
    "%",
    "%%",
    "\u00a0%post",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=25),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_lint_and_fix_never_crash(lines: list[str], crlf: bool, final_newline: bool) -> None:
    text = ("\r\n" if crlf else "\n").join(lines) + ("\n" if final_newline else "")
    config = LintConfig(select=("ALL",))
    result = lint_text(text, "fuzz.def", config, shellcheck=False)
    for problem in result.problems:
        assert problem.span.line >= 1 and problem.span.column >= 1, problem
        assert problem.code and problem.name and problem.message
    for name, formatter in FORMATS.items():
        output = formatter(Report([result]))
        if name == "sarif":
            validator().validate(json.loads(output))
    outcome = fix_text(text, "fuzz.def", config)
    if outcome.fixed != text:
        assert not outcome.refused
