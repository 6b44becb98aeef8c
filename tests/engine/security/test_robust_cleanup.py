"""Trees of any depth: removed and walked without recursion, never outside their root; a %post
that leaves a 1,500-deep tree (with read-only and unreadable directories) builds, packs, inspects
and cleans up like any other, as root and rootless; a build that fails after its output was
renamed into place removes that output (never a file that was there before)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from defkit.engine.context import BuildFinished, Event, StepFinished
from defkit.engine.reproducible import clamp_mtimes
from defkit.engine.sandbox import remove_tree
from defkit.errors import BuildError
from defkit.safepath import walk_tree
from tests.engine.engine.conftest import busybox_template, project
from tests.engine.engine.helpers import build_def, leftovers, write_def
from tests.engine.engine.test_subuid import (
    NOBODY,
    SETPRIV,
    _as_nobody_with_subuid,
    _missing_requirement,
    _nobody_python,
    nobody_base,
)
from tests.engine.security.canary import Canary

__all__ = ["busybox_template", "nobody_base", "project"]  # fixtures shared with tests/engine/engine
DEPTH = 1500

DEEP_POST = f"""
%post
    mkdir /deep
    cd /deep
    i=0
    while [ $i -lt {DEPTH} ]; do
        mkdir d
        cd d
        i=$((i + 1))
        [ $i = 700 ] && chmod 0500 ..
        [ $i = 900 ] && chmod 0 ..
        true
    done
    echo bottom > f
    echo '{{"From": "post"}}' > /.singularity.d/labels.json
"""


@pytest.fixture(autouse=True)
def _no_deep_tree_left(tmp_path: pathlib.Path) -> Iterator[None]:
    """A failed test must not leave its 1,500-deep tree: pytest's own clean-up of old tmp dirs
    recurses once per level and would crash a later session (Python 3.11). GNU rm, not the
    code under test, removes it."""
    yield
    subprocess.run(["rm", "-rf", "--", str(tmp_path / "tree")], check=True)


def _deep_tree(root: pathlib.Path, depth: int, outside: pathlib.Path | None = None) -> None:
    """`root`/d/d/... `depth` levels, made relative to a descriptor (the path gets too long)."""
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            os.mkdir("d", dir_fd=fd)
            if level % 400 == 0:
                os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
                if outside is not None:
                    os.symlink(str(outside), "escape", dir_fd=fd)
                    os.symlink(str(outside / "dir"), "escape-dir", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if level in (depth // 2, depth - 2):
                os.fchmod(fd, 0o500)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_remove_tree_any_depth_never_follows_symlinks(tmp_path: pathlib.Path) -> None:
    canary = Canary.plant(tmp_path / "host")
    tree = tmp_path / "tree"
    _deep_tree(tree, DEPTH, outside=canary.root)
    (tree / "d").chmod(0)  # unreadable, as a rootless tree can leave it
    assert sum(1 for _ in walk_tree(tree)) > DEPTH
    remove_tree(str(tree))
    assert not tree.exists()
    assert canary.changes() == []
    remove_tree(str(tree))  # already gone: nothing to do
    link = tmp_path / "link"
    link.symlink_to(canary.directory)
    remove_tree(str(link))  # the symlink itself, never what it points at
    assert not link.exists() and canary.changes() == []


def test_remove_tree_reports_what_it_cannot_remove(tmp_path: pathlib.Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for chattr +i")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "pinned").write_text("x")
    if subprocess.run(["chattr", "+i", str(tree / "pinned")], capture_output=True).returncode:
        pytest.skip("the file system has no immutable attribute")
    try:
        with pytest.raises(BuildError, match=rf"^cannot remove {tree}: Operation not permitted"):
            remove_tree(str(tree))
    finally:
        subprocess.run(["chattr", "-i", str(tree / "pinned")], check=True)


def test_clamp_mtimes_any_depth(tmp_path: pathlib.Path) -> None:
    """400 levels under a recursion limit of 100: a walk that recursed per level would fail."""
    canary = Canary.plant(tmp_path / "host")
    tree = tmp_path / "tree"
    _deep_tree(tree, 400, outside=canary.root)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)
    try:
        clamp_mtimes(str(tree), 1000)
    finally:
        sys.setrecursionlimit(limit)
    assert {info.st_mtime for _, _, info in walk_tree(tree)} == {1000}
    assert tree.lstat().st_mtime == 1000 and canary.changes() == []
    remove_tree(str(tree))


def test_remove_tree_rootless(tmp_path: pathlib.Path) -> None:
    """As nobody: 0500 and 0000 directories of one's own are opened up on the way."""
    reason = _missing_requirement()
    found = _nobody_python()
    if reason is not None or found is None:
        pytest.skip(reason or "no python that nobody can run with defkit importable")
    command, env = found
    base = pathlib.Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True,
                                       check=True).stdout.strip())  # fmt: skip
    try:
        os.chmod(base, 0o755)
        _deep_tree(base / "tree", 400)
        (base / "tree" / "d").chmod(0)
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        code = ("import sys; from defkit.engine.sandbox import remove_tree; "
                f"sys.setrecursionlimit(100); remove_tree({str(base / 'tree')!r})")
        done = subprocess.run([*SETPRIV, command[0], "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert os.listdir(base) == []
    finally:
        remove_tree(str(base))


# --- a real build with a deep tree ---------------------------------------------------------------


def _check_deep_image(sif: pathlib.Path) -> None:
    from defkit.image.inspect import inspect_image
    from defkit.image.verify import verify_image
    from defkit.sif.reader import read_sif
    from defkit.squashfs import unsquash_list

    assert verify_image(sif) == []
    assert inspect_image(sif).labels["From"] == "post"
    paths = {e.path for e in unsquash_list(sif, read_sif(sif).partition_offset)}
    assert "deep/" + "d/" * DEPTH + "f" in paths


def test_deep_tree_builds_and_cleans_up_as_root(project: pathlib.Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root build")
    path = write_def(project, DEEP_POST)
    sif = pathlib.Path(build_def(path, notest=True))
    _check_deep_image(sif)
    assert leftovers(project / "work") == []


@pytest.mark.e2e
def test_deep_tree_sandbox_as_root(project: pathlib.Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root build")
    path = write_def(project, DEEP_POST)
    sandbox = project / "sandbox"
    build_def(path, sandbox=str(sandbox), notest=True)
    try:
        assert (sandbox / "deep" / "d").is_dir() and leftovers(project / "work") == []
        assert not [name for name in os.listdir(project) if name.startswith(".sandbox.")]
    finally:
        remove_tree(str(sandbox))


@pytest.mark.e2e
@pytest.mark.parametrize("subuid", [False, True], ids=["userns", "subuid"])
def test_deep_tree_builds_and_cleans_up_rootless(nobody_base: pathlib.Path,
                                                 subuid: bool) -> None:
    reason = _missing_requirement()
    found = _nobody_python()
    if reason is not None or found is None:
        pytest.skip(reason or "no python that nobody can run with defkit importable")
    command, env = found
    write_def(nobody_base, DEEP_POST)
    os.chown(nobody_base / "image.def", NOBODY, NOBODY)
    argv = [*command, "build", "--notest", "--workdir", "work", "image.def"]
    env = {**env, "SOURCE_DATE_EPOCH": "1700000000"}
    if subuid:
        built = _as_nobody_with_subuid(nobody_base, argv, env)
    else:
        built = subprocess.run([*SETPRIV, *argv], cwd=nobody_base, env=env, capture_output=True,
                               text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    _check_deep_image(nobody_base / "image.sif")
    assert os.listdir(nobody_base / "work") == []


# --- failure after the output was written ----------------------------------------------------------


def _fail_on(kind: type, **match: Any) -> Any:
    def progress(event: Event) -> None:
        if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
            raise BuildError("injected failure")

    return progress


@pytest.mark.parametrize("where", [
    "after-sif-written", "build-finished", "cleanup",
    pytest.param("deep-tree-cleanup", marks=pytest.mark.e2e),
])  # fmt: skip
def test_failure_after_rename_removes_the_new_output(
    project: pathlib.Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from defkit.engine import sandbox
    from defkit.engine.engine import build as run_build

    path = write_def(project, DEEP_POST if where.startswith("deep") else "\n%post\n    true\n")
    target = project / "image.sif"
    options: dict[str, Any] = {"workdir": str(project / "work"), "force": True, "notest": True,
                               "source_date_epoch": 1}  # fmt: skip
    if where == "after-sif-written":
        options["progress"] = _fail_on(StepFinished, step="sif")
    elif where == "build-finished":
        options["progress"] = _fail_on(BuildFinished)
    else:  # the work directory's removal fails, after the output was renamed into place
        real = sandbox.remove_tree

        def remove_then_fail(victim: str) -> None:
            real(victim)
            if pathlib.Path(victim).name.startswith(".defkit-build-"):
                raise BuildError(f"cannot remove {victim}: injected")

        monkeypatch.setattr(sandbox, "remove_tree", remove_then_fail)
    with pytest.raises(BuildError, match="injected"):
        run_build(str(path), **options)
    assert not target.exists()
    assert leftovers(project / "work") == []
    assert [n for n in os.listdir(project) if n.startswith(".")] == []


def test_failure_keeps_a_file_it_did_not_write(project: pathlib.Path) -> None:
    from defkit.engine.engine import build as run_build

    target = project / "image.sif"
    target.write_text("the user's file\n")
    path = write_def(project, "\n%post\n    exit 3\n")
    with pytest.raises(BuildError, match="exit 3"):
        run_build(str(path), workdir=str(project / "work"), force=True)
    assert target.read_text() == "the user's file\n"
    assert leftovers(project / "work") == []
