"""The canary notices what the attack tests rely on it to notice."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.engine.security.canary import Canary


def test_untouched_canary_reports_nothing(tmp_path: pathlib.Path) -> None:
    canary = Canary.plant(tmp_path / "canary")
    canary.assert_untouched()


@pytest.mark.parametrize("change", ["chmod", "content", "create", "delete", "utime", "relink"])
def test_canary_reports_each_kind_of_change(tmp_path: pathlib.Path, change: str) -> None:
    canary = Canary.plant(tmp_path / "canary")
    if change == "chmod":
        os.chmod(canary.binary, 0o4777)
    elif change == "content":
        canary.file.write_text("changed\n")
    elif change == "create":
        (canary.directory / "new").write_text("")
    elif change == "delete":
        (canary.directory / "inner").unlink()
    elif change == "utime":
        os.utime(canary.file, ns=(2_000_000_000, 2_000_000_000))
    else:
        os.unlink(canary.root / "link")
        os.symlink("/etc/passwd", canary.root / "link")
    with pytest.raises(AssertionError, match="canary was touched"):
        canary.assert_untouched()
