"""End to end (`make e2e`, needs deb.debian.org): one debian-minimal point built rootless with
debootstrap; its %test runs during the build, and again on the finished image."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from tests.engine.engine.helpers import defkit


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap not installed")
def test_debian_minimal_bookworm_builds_and_passes_its_test(tmp_path: pathlib.Path) -> None:
    rendered = defkit("recipes", "render", "debian-minimal", "--set", "suite=bookworm",
                      "-o", str(tmp_path))
    assert rendered.returncode == 0, rendered.stderr
    def_path = tmp_path / "debian-minimal-bookworm.def"
    built = defkit("build", "--engine", "native", "--fakeroot", str(def_path), timeout=1800)
    assert built.returncode == 0, built.stderr
    assert "--> %test" in built.stderr
    tested = defkit("test", str(tmp_path / "debian-minimal-bookworm.sif"))
    assert tested.returncode == 0, tested.stderr
    ran = defkit("run", str(tmp_path / "debian-minimal-bookworm.sif"), "cat", "/etc/debian_version")
    assert ran.returncode == 0 and ran.stdout.startswith("12."), ran.stdout
