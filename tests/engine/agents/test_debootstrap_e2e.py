"""debootstrap for real, rootless (root-mapped user namespace + fakeroot), against the Debian
mirror. Slow and needs the network: `make e2e` only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from defkit.engine import agents
from tests.engine.agents.helpers import context, in_rootfs, stage

MIRROR = os.environ.get("DEFKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@pytest.mark.e2e
def test_debootstrap_rootless_minbase(tmp_path: Path) -> None:
    s = stage(f"Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: {MIRROR}\n"
              "Include: less\n")
    ctx = context(tmp_path, mode="fakeroot")
    rootfs = tmp_path / "build" / "rootfs"
    agent = agents.get("debootstrap")
    agent.check(s, ctx)
    result = agent.bootstrap(s, str(rootfs), ctx)
    assert result.fakeroot_state is not None and os.path.getsize(result.fakeroot_state) > 0
    assert (rootfs / "usr" / "bin" / "less").exists()
    assert not list((rootfs / "usr" / "lib").glob("*/libfakeroot"))  # mount point removed
    assert in_rootfs(rootfs, ["/.singularity.d/actions/exec", "cat", "/etc/debian_version"]
                     ).stdout.startswith("12.")
    # Ownership dpkg set (root:shadow) lives in the fakeroot state, ready for mksquashfs.
    owner = subprocess.run(
        ["unshare", "--map-root-user", "fakeroot", "-i", result.fakeroot_state, "--",
         "stat", "-c", "%u:%g", str(rootfs / "etc" / "shadow")],
        capture_output=True, text=True, check=True).stdout.strip()
    assert owner == "0:42"
