"""`defkit pull docker://IMAGE -o OUT.sif`: a SIF built from the image, as `apptainer pull`."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.registry.images import defkit, push_busybox
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")


def test_pull_docker_builds_a_sif(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    ref = push_busybox(registry, "pull/app")
    out = tmp_path / "app.sif"
    done = defkit("pull", "-q", f"docker://{registry.host}/pull/app:1", "-o", str(out),
                  cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert defkit("run", str(out), cache=tmp_path / "cache").stdout == "entry default cmd\n"
    shown = defkit("inspect", str(out), cache=tmp_path / "cache").stdout
    assert f"org.opencontainers.image.base.digest: {ref.digest}" in shown


def test_pull_errors(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "x.sif"
    done = defkit("pull", f"docker://{registry.host}/pull/missing:1", "-o", str(out),
                  cache=tmp_path / "cache")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (f"error: {registry.host}/pull/missing:1: manifest "
                                            "unknown (no tag or digest '1')")
    assert not out.exists()
    done = defkit("pull", "https://example.org/x", cache=tmp_path / "cache")
    assert done.returncode == 2
