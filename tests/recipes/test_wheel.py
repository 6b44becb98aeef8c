"""The wheel carries the catalogue as package data, where an installed defkit looks for it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.shared import REPO


def test_wheel_contains_every_family(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("defkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    families = sorted(p.name for p in (REPO / "recipes").iterdir() if (p / "recipe.yaml").is_file())
    assert len(families) == 9
    for family in families:
        assert f"defkit/recipes/{family}/recipe.yaml" in names
        assert f"defkit/recipes/{family}/{family}.def.j2" in names
    assert "defkit/recipes/hello/hello.lock" in names
    assert "defkit/catalogue/render.py" in names
    # Installed, the catalogue is found inside the package.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    found = subprocess.run(
        [sys.executable, "-c", "from defkit.catalogue.family import builtin_dir; print(builtin_dir())"],
        cwd=tmp_path, env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == str(target / "defkit" / "recipes")
