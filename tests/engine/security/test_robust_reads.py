"""Reads from a rootfs (defkit.safepath.Root): never block on a FIFO or device, never leave
the root through a symlink, never read more than asked; a %post that plants FIFOs and a JSON
nested 200,000 deep where the engine reads builds without hanging or a traceback."""

from __future__ import annotations

import os
import pathlib
import threading
from typing import Any

import pytest

from defkit.safepath import Root, RootfsReadError, read_host_head
from tests.engine.engine.conftest import busybox_template, project
from tests.engine.engine.helpers import defkit, leftovers, write_def
from tests.engine.security.canary import Canary

__all__ = ["busybox_template", "project"]  # fixtures shared with tests/engine/engine


def read_file(root: pathlib.Path, path: str, **options: Any) -> bytes | None:
    with Root(root) as opened:
        return opened.read_file(path, **options)


def read_head(root: pathlib.Path, path: str, size: int) -> bytes | None:
    with Root(root) as opened:
        return opened.read_head(path, size)


def glob(root: pathlib.Path, pattern: str) -> list[str]:
    with Root(root) as opened:
        return opened.glob(pattern)


def _within(seconds: float, call: object) -> object:
    """`call()`, failing the test (instead of hanging it) when it blocks."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)  # type: ignore[operator]
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read blocked"
    return result[0]


@pytest.fixture()
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=test\n")
    return root


def test_fifos_and_devices_are_not_files(root: pathlib.Path) -> None:
    os.mkfifo(root / "etc" / "passwd")
    assert _within(5, lambda: read_file(root, "/etc/passwd")) is None
    assert _within(5, lambda: read_head(root, "/etc/passwd", 4)) is None
    assert _within(5, lambda: read_host_head(str(root / "etc" / "passwd"), 4)) is None
    if os.geteuid() == 0:
        os.mknod(root / "etc" / "zero", 0o666 | 0o020000, os.makedev(1, 5))  # /dev/zero
        assert _within(5, lambda: read_file(root, "/etc/zero")) is None
    assert read_file(root, "/etc/os-release") == b"ID=test\n"


def test_symlinks_stay_inside_the_root(root: pathlib.Path, tmp_path: pathlib.Path) -> None:
    canary = Canary.plant(tmp_path / "host")
    (root / "etc" / "abs").symlink_to(canary.file)  # re-rooted: <root>/<canary path>, missing
    (root / "etc" / "up").symlink_to("../../../../../../../../" + str(canary.file))
    (root / "etc" / "rel").symlink_to("os-release")
    assert read_file(root, "/etc/abs") is None
    assert read_file(root, "/etc/up") is None
    assert read_file(root, "/etc/rel") == b"ID=test\n"
    assert read_file(root, "/etc/rel", follow=False) is None
    (root / "lib64").symlink_to(canary.root)  # a host directory, as an absolute link
    assert glob(root, "lib*/*") == []
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "ld-linux.so.2").write_text("")
    (root / "lib").symlink_to("/usr/lib")  # merged /usr: resolved inside the root
    assert glob(root, "lib*/ld-linux*.so*") == ["/lib/ld-linux.so.2"]
    assert canary.changes() == []


def test_size_is_bounded(root: pathlib.Path) -> None:
    (root / "etc" / "big").write_bytes(b"x" * 1025)
    with pytest.raises(RootfsReadError, match="^/etc/big is larger than 1024 bytes"):
        read_file(root, "/etc/big", limit=1024)
    assert read_head(root, "/etc/big", 10) == b"x" * 10
    with open(root / "etc" / "sparse", "wb") as f:
        f.truncate(1 << 40)  # a terabyte that takes no room
    with pytest.raises(RootfsReadError):
        read_file(root, "/etc/sparse")


HOSTILE_POST = """
%post
    mkfifo /.build.labels /.singularity.d/runscript.help /etc/os-release /var-log-fifo
    mkdir -p /var/log && mkfifo /var/log/dpkg.log
    { yes '{"a":' | head -n 200000; echo 1; yes '}' | head -n 200000; } | tr -d '\\n' \\
        > /.singularity.d/labels.json
    test "$(wc -c < /.singularity.d/labels.json)" = 1200001
"""


def test_a_hostile_post_cannot_hang_or_crash_the_build(project: pathlib.Path) -> None:
    write_def(project, HOSTILE_POST)
    done = defkit("build", "--notest", "--workdir", "work", "image.def", cwd=str(project),
                  env={"SOURCE_DATE_EPOCH": "1"}, timeout=300)  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    assert leftovers(project / "work") == []
    shown = defkit("inspect", "--labels", "image.sif", cwd=str(project))
    assert shown.returncode == 0 and "org.label-schema.build-date" in shown.stdout
