"""`%files` and `%files from STAGE` against hostile rootfs content, in real builds (root, and
rootless in the e2e suite), with a host canary beside the build tree.

`%files from STAGE` sources (globs included) are matched inside the stage's root: a symlink in
that stage pointing at a host path leads into the stage, never to the host, and the error for a
source that is not there says the same whether or not the host has such a path.
"""

from __future__ import annotations

import os

import pytest

from tests.engine.security.test_layers import Lab, file, folder, layer, symlink
from tests.engine.security.test_layers import lab as lab  # the fixture, shared

TWO_STAGES = """
Bootstrap: @AGENT@
From: @SOURCE@
Stage: two

%files from one
    {source} /stolen
"""


@pytest.mark.parametrize("source", ["/lnk/secret.txt", "/ln*/secret.txt", "/ln?/secret*",
                                    "/up/{canary}/secret.txt", "/up/{canary}/*",
                                    "/lnk/b*/tool", "/lnk/dir/*"])
def test_files_from_a_stage_never_reads_the_host(lab: Lab, source: str) -> None:
    canary = str(lab.canary.root)
    source = source.replace("{canary}", canary.lstrip("/"))
    stage_one = layer(symlink("lnk", canary), symlink("up", lab.climb.rstrip("/")))
    built = lab.build([stage_one], TWO_STAGES.format(source=source), extra="Stage: one")
    error = built.error()
    assert f"%files from one: {source} does not exist in stage one" in error, error
    # The same words for a path the host does not have: nothing tells what the host holds.
    missing = source.replace("secret", "absent").replace("tool", "absent").replace(
        "dir/", "nodir/")
    other = lab.build([stage_one], TWO_STAGES.format(source=missing), extra="Stage: one")
    assert other.error().replace(missing, source) == error


def test_files_from_a_stage_copies_what_the_stage_has(lab: Lab) -> None:
    canary = str(lab.canary.root)
    stage_one = layer(folder(canary.lstrip("/")), file(canary.lstrip("/") + "/secret.txt",
                                                       b"inside\n"),
                      symlink("lnk", canary), file("etc/a.conf"), file("etc/b.conf"))
    body = TWO_STAGES.format(source="/ln*/secret.txt") + "    /etc/*.conf /conf/\n"
    built = lab.build([stage_one], body, extra="Stage: one")
    built.ok()
    assert built.read("/stolen") == b"inside\n"
    assert built.read("/conf/a.conf") == b"x\n" and built.read("/conf/b.conf") == b"x\n"


def test_host_files_into_symlinked_destinations_stay_inside(lab: Lab) -> None:
    canary = str(lab.canary.root)
    (lab.base / "payload.txt").write_text("payload\n")
    if lab.uid:
        os.chown(lab.base / "payload.txt", lab.uid, lab.uid)
    layers = [layer(symlink("opt", canary), symlink("etc", lab.climb + canary.lstrip("/")),
                    symlink("srv", canary + "/secret.txt"))]
    body = ("%files\n"
            f"    {lab.base}/payload.txt /opt/secret.txt\n"
            f"    {lab.base}/payload.txt /etc/bin/tool\n"
            f"    {lab.base}/payload.txt /srv\n"
            f"    {lab.base}/payload.txt /opt/dir/\n")
    built = lab.build(layers, body)
    built.ok()
    assert built.read(canary + "/secret.txt") == b"payload\n"
    assert built.read(canary + "/bin/tool") == b"payload\n"
    assert built.read(canary + "/dir/payload.txt") == b"payload\n"
