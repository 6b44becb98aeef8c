"""The wheel carries what an installed defkit needs: the grammar and the type marker."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.shared import REPO


def test_wheel_contains_grammar_and_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("defkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "defkit/grammar/deffile.lark" in names
    assert "defkit/py.typed" in names
    assert "defkit/parser.py" in names and "defkit/cli/__init__.py" in names
    assert not any(name.startswith("tests/") for name in names)
