"""Small real images for the SIF/squashfs/image tests: a busybox tree, its squashfs, a SIF."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from defkit.squashfs import make_squashfs

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
DEFINITION = b"Bootstrap: scratch\n\n%runscript\n    echo hello\n"

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("mksquashfs", "unsquashfs", "siftool"))
    or not os.path.exists(BUSYBOX),
    reason="needs squashfs-tools, siftool and busybox-static (make deb)",
)


def busybox_tree(root: pathlib.Path) -> pathlib.Path:
    """A minimal rootfs: static busybox with sh/ls/cat links, and an Apptainer-like metadata dir."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for name in ("sh", "ls", "cat", "echo"):
        (root / "bin" / name).symlink_to("busybox")
    sd = root / ".singularity.d"
    (sd / "env").mkdir(parents=True)
    (sd / "actions").mkdir()
    (sd / "libs").mkdir()
    (sd / "env" / "01-base.sh").write_text("#!/bin/sh\n")
    (sd / "env" / "90-environment.sh").write_text(
        "#!/bin/sh\n# custom environment shell code should follow\n\nexport GREETING=hello\n"
    )
    (sd / "env" / "91-environment.sh").write_text("export FROM_POST=1\n")
    (sd / "env" / "99-base.sh").write_text("#!/bin/sh\n")
    (sd / "runscript").write_text("#!/bin/sh\n\necho \"$GREETING\" <world> & co\n")
    (sd / "test").write_text("#!/bin/sh\n\ntest -x /bin/busybox\n")
    (sd / "runscript.help").write_text("Says hello.\n")
    (sd / "Singularity").write_bytes(DEFINITION)
    labels = {"Author": "Ada", "org.label-schema.schema-version": "1.0"}
    (sd / "labels.json").write_text(json.dumps(labels, indent="\t", sort_keys=True))
    app = root / "scif" / "apps" / "tool" / "scif"
    (app / "env").mkdir(parents=True)
    (app / "runscript").write_text("#!/bin/sh\necho tool\n")
    (app / "env" / "90-environment.sh").write_text("export TOOL=1\n")
    (app / "labels.json").write_text('{"AppLabel": "x"}')
    (root / "singularity").symlink_to(".singularity.d/runscript")
    return root


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The busybox tree (shared by tests/sif and tests/image through their conftest.py)."""
    return busybox_tree(tmp_path_factory.mktemp("rootfs") / "root")


@pytest.fixture(scope="session")
def squashfs(rootfs: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The busybox tree squashed (shared like `rootfs`)."""
    out = tmp_path_factory.mktemp("sqfs") / "root.sqfs"
    make_squashfs(rootfs, out, source_date_epoch=1700000000)
    return out


def siftool(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["siftool", *args], capture_output=True, check=True)
