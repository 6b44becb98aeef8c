"""End to end (`make e2e`, needs deb.debian.org and PyPI): what a narrowed sandbox must still let a
recipe do. A root build's %post has no CAP_SYS_ADMIN, no NET_ADMIN/NET_RAW and the rest of
nsinit.ROOT_DROPPED; a rootless one only Docker's default set. apt-get (with its _apt sandbox),
gcc, `make install`, pip and useradd/chown must all work in both. pip gets the host's CA bundle:
a host whose HTTPS goes through an intercepting proxy trusts a CA the image does not know."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from defkit.engine.context import OutputLine
from tests.engine.engine.helpers import build_def

DEF = """Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: http://deb.debian.org/debian

%files
    /etc/ssl/certs/ca-certificates.crt /tmp/host-ca.crt

%post
    apt-get update
    apt-get install -y --no-install-recommends make gcc libc6-dev python3-pip ca-certificates
    mkdir -p /src && cd /src
    printf 'int main(void) { return 0; }\\n' > hello.c
    printf 'install:\\n\\tgcc -o /usr/local/bin/hello hello.c\\n' > Makefile
    make install
    /usr/local/bin/hello
    pip install --break-system-packages --no-cache-dir --cert /tmp/host-ca.crt six
    python3 -c 'import six; print("SIX", six.__version__)'
    useradd -m builder && chown -R builder:builder /src
    grep -E 'CapBnd|NoNewPrivs' /proc/self/status
    rm -rf /var/lib/apt/lists/* /src /tmp/host-ca.crt

%test
    test -x /usr/local/bin/hello
"""


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("debootstrap") is None
                    or not os.path.isfile("/etc/ssl/certs/ca-certificates.crt"),
                    reason="debootstrap and the host's CA bundle are needed")
@pytest.mark.parametrize("fakeroot", [pytest.param(False, marks=pytest.mark.skipif(
    os.geteuid() != 0, reason="a root build needs root")), True], ids=["root", "fakeroot"])
def test_package_recipes_work_in_the_sandbox(tmp_path: pathlib.Path, fakeroot: bool) -> None:
    path = tmp_path / "deb.def"
    path.write_text(DEF)
    (tmp_path / "work").mkdir()
    events: list[object] = []
    try:
        build_def(path, output=str(tmp_path / "image.sif"), fakeroot=fakeroot,
                  events=events)  # type: ignore[arg-type]
    finally:
        post = [e.text for e in events if isinstance(e, OutputLine) and e.step == "%post"]
        print("\n".join(post[-30:]))  # shown when the build fails
    assert any(line.startswith("SIX ") for line in post), post[-20:]
