"""`defkit build A.def B.def DIR/ -j N` with real busybox builds: every recipe is built next to
its def file, a failing one does not stop the others, one summary line each, exit 1."""

from __future__ import annotations

import pathlib

from tests.engine.engine.helpers import defkit, write_def

GOOD = """
%post
    echo {name} > /name
"""
BAD = """
%post
    echo before
    false
"""


def _read(sif: pathlib.Path, member: str) -> bytes | None:
    from defkit.sif.reader import read_sif
    from defkit.squashfs import unsquash_cat

    return unsquash_cat(sif, member, read_sif(sif).partition_offset)


def _header(project: pathlib.Path) -> str:
    return f"Bootstrap: localimage\nFrom: {project / 'rootfs'}\n"


def test_three_recipes_one_failing(project: pathlib.Path) -> None:
    sub = project / "more"
    sub.mkdir()
    write_def(project, GOOD.format(name="a"), name="a.def", header=_header(project))
    write_def(project, BAD, name="b.def", header=_header(project))
    write_def(sub, GOOD.format(name="c"), name="c.def", header=_header(project))
    env = {"SOURCE_DATE_EPOCH": "1700000000", "TMPDIR": str(project / "work")}
    done = defkit("build", "-j", "2", "-F", "a.def", "b.def", "more/", cwd=str(project), env=env,
                  timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert lines[0].startswith(f"built   {project / 'a.def'} -> {project / 'a.sif'}")
    assert lines[1].startswith(f"failed  {project / 'b.def'}: ")
    assert "%post failed (exit 1) at: false" in lines[1]
    assert lines[2].startswith(f"built   {sub / 'c.def'} -> {sub / 'c.sif'}")
    assert _read(project / "a.sif", "/name") == b"a\n"
    assert _read(sub / "c.sif", "/name") == b"c\n"
    assert not (project / "b.sif").exists()
    assert "defkit: 2 built, 0 cached, 1 failed" in done.stderr
    assert "Traceback" not in done.stderr
    # Progress lines name their recipe.
    assert any(line.startswith("[b.def] ") for line in done.stderr.splitlines())

    # -F as before: --force is part of the key.
    again = defkit("build", "-j", "3", "-F", "a.def", "more/c.def", cwd=str(project), env=env,
                   timeout=300)
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["cached", "cached"]


def test_a_single_def_and_target_source_keep_their_meaning(project: pathlib.Path) -> None:
    write_def(project, GOOD.format(name="x"), name="x.def", header=_header(project))
    env = {"SOURCE_DATE_EPOCH": "1700000000", "TMPDIR": str(project / "work")}
    done = defkit("build", "--quiet", "out.sif", "x.def", cwd=str(project), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and (project / "out.sif").exists()
    refused = defkit("build", "-j", "2", "-o", "y.sif", "x.def", cwd=str(project), env=env)
    assert refused.returncode == 2 and "several recipes" in refused.stderr


def test_a_recipe_built_from_another_waits_for_it_and_is_skipped_when_it_fails(
        project: pathlib.Path) -> None:
    """The issue's graph: `child` bootstraps from `base.sif` (built first, though -j 3 could
    start both), `orphan` from `bad.sif` (skipped: bad fails), `alone` builds regardless."""
    write_def(project, GOOD.format(name="base"), name="base.def", header=_header(project))
    write_def(project, "\n%post\n    cat /name > /parent\n", name="child.def",
              header="Bootstrap: localimage\nFrom: base.sif\n")
    write_def(project, BAD, name="bad.def", header=_header(project))
    write_def(project, GOOD.format(name="orphan"), name="orphan.def",
              header="Bootstrap: localimage\nFrom: ./bad.sif\n")
    write_def(project, GOOD.format(name="alone"), name="alone.def", header=_header(project))
    env = {"SOURCE_DATE_EPOCH": "1700000000", "TMPDIR": str(project / "work")}
    done = defkit("build", "-j", "3", "child.def", "orphan.def", "base.def", "bad.def",
                  "alone.def", cwd=str(project), env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    status = {line.split()[1].rstrip(":"): line.split()[0] for line in done.stdout.splitlines()}
    assert status == {str(project / "child.def"): "built", str(project / "orphan.def"): "skipped",
                      str(project / "base.def"): "built", str(project / "bad.def"): "failed",
                      str(project / "alone.def"): "built"}, done.stdout
    assert f"bootstraps from the output of {project / 'bad.def'}, which failed" in done.stdout
    assert _read(project / "child.sif", "/parent") == b"base\n"
    assert not (project / "orphan.sif").exists()
    assert "defkit: 3 built, 0 cached, 1 failed, 1 skipped" in done.stderr
