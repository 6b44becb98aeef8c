"""make_squashfs and the unsquashfs helpers, against the real squashfs-tools."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

from defkit.errors import BuildError
from defkit.squashfs import (
    SquashfsError,
    make_squashfs,
    mksquashfs_argv,
    unsquash_cat,
    unsquash_list,
    unsquash_stat,
)
from tests.sif.helpers import needs_tools

pytestmark = needs_tools


def sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_argv_has_the_reproducible_flags() -> None:
    argv = mksquashfs_argv("R", "O", source_date_epoch=42, processors=3, excludes=["/a", "b"])
    assert argv[:3] == ["mksquashfs", "R", "O"]
    for flags in (["-noappend"], ["-comp", "gzip"], ["-no-xattrs"], ["-mkfs-time", "42"],
                  ["-all-time", "42"], ["-quiet"], ["-no-progress"], ["-all-root"],
                  ["-processors", "3"]):  # fmt: skip
        i = argv.index(flags[0])
        assert argv[i : i + len(flags)] == flags
    assert argv[-3:] == ["-e", "a", "b"]  # -e swallows the rest, so it comes last
    assert "-no-progress" not in mksquashfs_argv("R", "O", source_date_epoch=0, progress=True)
    assert "-all-root" not in mksquashfs_argv("R", "O", source_date_epoch=0, all_root=False)


def test_reproducible_across_copies_and_sde_env(
    rootfs: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mksquashfs 4.5.1 is fatal with SOURCE_DATE_EPOCH *and* -all-time: it must be removed.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99")
    make_squashfs(rootfs, tmp_path / "a.sqfs", source_date_epoch=1000)
    copy = tmp_path / "copy"
    shutil.copytree(rootfs, copy, symlinks=True)
    os.utime(copy / "bin" / "busybox", (5, 5))
    make_squashfs(copy, tmp_path / "b.sqfs", source_date_epoch=1000, processors=1)
    assert sha(tmp_path / "a.sqfs") == sha(tmp_path / "b.sqfs")
    make_squashfs(rootfs, tmp_path / "c.sqfs", source_date_epoch=1001)
    assert sha(tmp_path / "c.sqfs") != sha(tmp_path / "a.sqfs")
    assert "Thu Jan  1 00:16:40 1970" in subprocess.run(
        ["unsquashfs", "-UTC", "-s", str(tmp_path / "a.sqfs")], capture_output=True, text=True
    ).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.sqfs", "b.sqfs", "c.sqfs", "copy"]


def test_listing_ownership_pseudo_files_and_excludes(
    rootfs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    pf = tmp_path / "pseudo"
    pf.write_text("bin/busybox m 4755 0 0\n.singularity.d/labels.json m 600 42 8\n"
                  "dev d 755 0 0\ndev/null c 666 0 0 1 3\n")  # fmt: skip
    out = tmp_path / "p.sqfs"
    make_squashfs(rootfs, out, source_date_epoch=0, all_root=False, pseudo_file=str(pf),
                  excludes=["/.singularity.d/env/91-environment.sh"])  # fmt: skip
    entries = {e.path: e for e in unsquash_list(out)}
    assert entries["bin/busybox"].mode == "-rwsr-xr-x"
    labels = entries[".singularity.d/labels.json"]
    assert (labels.uid, labels.gid, labels.mode) == (42, 8, "-rw-------")
    assert entries["dev/null"].mode.startswith("c") and entries["dev/null"].size == "1,3"
    assert entries["bin/sh"].target == "busybox"
    assert entries[""].mode.startswith("d")
    assert ".singularity.d/env/91-environment.sh" not in entries
    assert ".singularity.d/env/90-environment.sh" in entries
    only = unsquash_list(out, members=[".singularity.d/env"])
    assert {e.path for e in only} >= {".singularity.d/env/01-base.sh"}
    assert "bin/busybox" not in {e.path for e in only}


def test_cat_and_stat(squashfs: pathlib.Path, rootfs: pathlib.Path) -> None:
    labels = rootfs / ".singularity.d" / "labels.json"
    assert unsquash_cat(squashfs, "/.singularity.d/labels.json") == labels.read_bytes()
    assert unsquash_cat(squashfs, "/nope") is None
    assert unsquash_cat(squashfs, "/bin") is None  # a directory
    assert unsquash_cat(squashfs, "/.singularity.d/*.json") is None  # no wildcards
    assert "Compression gzip" in unsquash_stat(squashfs)
    with pytest.raises(SquashfsError, match="unreadable"):
        unsquash_stat(rootfs / ".singularity.d" / "labels.json")


def test_progress_callback(tmp_path: pathlib.Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(300):
        (tree / f"f{i}").write_bytes(os.urandom(1000) * (i % 7 + 1))
    seen: list[float] = []
    make_squashfs(tree, tmp_path / "t.sqfs", source_date_epoch=0, progress=seen.append)
    assert seen and seen[-1] == 100.0
    assert all(0.0 <= p <= 100.0 for p in seen) and seen == sorted(seen)
    assert len(unsquash_list(tmp_path / "t.sqfs")) == 301


def test_failure_is_one_line_and_leaves_nothing(tmp_path: pathlib.Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x")
    bad = tmp_path / "bad-pseudo"
    bad.write_text("this is not a pseudo definition\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(BuildError, match=r"mksquashfs failed \(exit \d+\): .*pseudo") as info:
        make_squashfs(tree, out_dir / "x.sqfs", source_date_epoch=0, pseudo_file=str(bad))
    assert "\n" not in info.value.format()
    assert list(out_dir.iterdir()) == []
    # the streaming path (progress callback) reports mksquashfs's own message the same way
    with pytest.raises(BuildError, match="mksquashfs failed") as streamed:
        make_squashfs(tree, out_dir / "x.sqfs", source_date_epoch=0, pseudo_file=str(bad),
                      progress=lambda p: None)  # fmt: skip
    assert streamed.value.message == info.value.message
    assert list(out_dir.iterdir()) == []
    with pytest.raises(BuildError, match="not a directory"):
        make_squashfs(tmp_path / "missing", out_dir / "y.sqfs", source_date_epoch=0)


def test_wrapper_is_prepended(rootfs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    record = tmp_path / "argv"
    wrapper = ["sh", "-c", f'echo "$1" > {record}; exec "$@"', "wrap"]
    make_squashfs(rootfs, tmp_path / "w.sqfs", source_date_epoch=0, wrapper=wrapper)
    make_squashfs(rootfs, tmp_path / "n.sqfs", source_date_epoch=0)
    assert record.read_text() == "mksquashfs\n"
    assert sha(tmp_path / "w.sqfs") == sha(tmp_path / "n.sqfs")
