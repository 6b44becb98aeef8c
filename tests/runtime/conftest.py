from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from tests.engine.engine.helpers import build_def, write_def

IMAGE = """
%environment
    export FROM_ENV=image

%post
    mkdir -p /opt/owned
    echo data > /opt/owned/file
    chown 1000:2000 /opt/owned/file

%runscript
    echo "runscript $*"

%test
    test -f /opt/owned/file
"""


@pytest.fixture(scope="session")
def sif() -> Iterator[pathlib.Path]:
    """A busybox SIF built by defkit, in a world-readable directory (nobody runs it too)."""
    if os.geteuid() != 0 or shutil.which("mksquashfs") is None:
        pytest.skip("needs root and squashfs-tools to build the image")
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-runtime-test-"))
    try:
        os.chmod(base, 0o755)
        make_busybox_rootfs(str(base / "rootfs"))
        (base / "work").mkdir()
        path = build_def(write_def(base, IMAGE), workdir=str(base / "work"))
        os.chmod(path, 0o644)
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(base, ignore_errors=True)
