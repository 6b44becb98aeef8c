"""End to end (`make e2e`, needs deb.debian.org): a debootstrap minbase image with
`apt-get install` in %post, built rootless (user namespace + fakeroot) twice: byte-identical,
package ownership kept (man-db's /var/cache/man is man:man), and it runs."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from defkit.runtime import run_action
from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_list
from tests.engine.engine.helpers import build_def

DEF = """Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: http://deb.debian.org/debian

%post
    apt-get update
    apt-get install -y --no-install-recommends man-db
    rm -rf /var/lib/apt/lists/*

%runscript
    exec stat -c '%U:%G' /var/cache/man

%test
    test -x /usr/bin/man
"""


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap not installed")
def test_debootstrap_apt_get_rootless_twice_identical(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "deb.def"
    path.write_text(DEF)
    (tmp_path / "work").mkdir()
    first = build_def(path, output=str(tmp_path / "one.sif"), fakeroot=True)
    second = build_def(path, output=str(tmp_path / "two.sif"), fakeroot=True)
    assert pathlib.Path(first).read_bytes() == pathlib.Path(second).read_bytes()
    entries = {e.path: e for e in unsquash_list(first, read_sif(first).partition_offset)}
    man = entries["var/cache/man"]
    assert (man.uid, man.gid) == (6, 12)
    shadow = entries["etc/shadow"]
    assert shadow.gid == 42
    code, out = run_action(first, "run", capture=True)
    assert code == 0 and out.decode().strip() == "man:man"
