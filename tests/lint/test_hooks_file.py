"""`.pre-commit-hooks.yaml`: the hooks, their language, and which file names they match."""

from __future__ import annotations

import re

from ruamel.yaml import YAML

from defkit.lint.files import DEF_NAME, is_def_name
from tests.shared import REPO

MATCHED = [
    "x.def",
    "a/b/Singularity",
    "Singularity.def",
    "Singularity.gpu",
    "Apptainer",
    "c/Apptainer.v2",
]
NOT_MATCHED = [
    "Singularity-notes.txt",
    "a/MySingularity",
    "defs/readme.md",
    "x.def.bak",
    "Singularity/x.txt",
]


def test_hooks() -> None:
    hooks = {
        hook["id"]: hook
        for hook in YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())
    }
    assert set(hooks) == {"defkit-lint", "defkit-fmt"}
    for hook_id, command in (("defkit-lint", "lint"), ("defkit-fmt", "fmt")):
        hook = hooks[hook_id]
        assert hook["language"] == "python"
        assert hook["entry"] == f"defkit {command}"
        assert hook["files"] == DEF_NAME.pattern  # the CLI searches directories with the same rule
        pattern = re.compile(hook["files"])
        assert all(pattern.search(name) for name in MATCHED)
        assert not any(pattern.search(name) for name in NOT_MATCHED)
    assert all(is_def_name(name) for name in MATCHED)
