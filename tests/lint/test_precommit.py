"""The pre-commit hook, installed for real by `pre-commit try-repo` from a clone of this checkout.

pre-commit builds a virtualenv and pip-installs defkit into it (from PyPI for the dependencies),
so this takes ~30 s; it is skipped when pre-commit or git is missing.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.shared import REPO

BAD = "Bootstrap: docker\nFrom: alpine:3.20\n\n%lables\n    a b\n"
GOOD = """\
Bootstrap: docker
From: alpine:3.20

%help
    A small example image.

%labels
    Author Jane Doe

%post
    apk add --no-cache curl

%runscript
    exec curl "$@"

%test
    curl --version
"""


def git(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_try_repo(tmp_path: pathlib.Path) -> None:
    pre_commit = pathlib.Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    # A clone holds what is committed, without other work in progress in this checkout.
    clone = tmp_path / "defkit"
    git("clone", "--quiet", str(REPO), str(clone), cwd=tmp_path)
    project = tmp_path / "project"
    (project / "containers").mkdir(parents=True)
    (project / "containers" / "Singularity").write_text(BAD, encoding="utf-8")
    (project / "good.def").write_text(GOOD, encoding="utf-8")
    (project / "notes.txt").write_text(BAD, encoding="utf-8")  # not matched by the hook
    git("init", "--quiet", cwd=project)
    git("add", ".", cwd=project)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }

    def try_repo(*files: str, hook: str = "defkit-lint") -> subprocess.CompletedProcess[str]:
        argv = [str(pre_commit), "try-repo", str(clone), hook, "--files", *files]
        return subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, timeout=600
        )

    failing = try_repo("containers/Singularity", "good.def", "notes.txt")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "containers/Singularity:4:2: DK002 [unknown-section]" in failing.stdout
    assert "notes.txt" not in failing.stdout.split("defkit lint", 1)[-1]
    passing = try_repo("good.def", "notes.txt")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout
    # The formatting hook (same environment, so no second install) rewrites a file out of layout.
    formatted = try_repo("good.def", hook="defkit-fmt")
    if formatted.returncode != 0:  # pre-commit fails a hook that modified files
        assert "files were modified by this hook" in formatted.stdout
    assert try_repo("good.def", hook="defkit-fmt").returncode == 0
