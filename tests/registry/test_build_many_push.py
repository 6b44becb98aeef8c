"""`defkit build A.def B.def -j 2 --push A.def=REF`: a recipe whose `Bootstrap: docker`/`oras`
base is the reference another recipe pushes builds after it (from what it pushed), and is
skipped, with the reason, when that one fails. Against the real docker-registry."""

from __future__ import annotations

import os
import pathlib

import pytest

from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_cat
from tests.registry.images import defkit, push_busybox, write_def
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="docker:// push unpacks the SIF with its owners: root")


def _read(sif: pathlib.Path, member: str) -> bytes | None:
    return unsquash_cat(sif, member, read_sif(sif).partition_offset)


def test_a_recipe_from_the_reference_another_pushes_waits_for_it(
        registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    push_busybox(registry, "x/base")
    host = registry.host
    write_def(tmp_path, f"{host}/x/base:1", "%post\n    echo a > /name\n", name="a.def")
    # B names A's image as Apptainer users write it (no scheme, docker's Registry: split).
    (tmp_path / "b.def").write_text(
        f"Bootstrap: docker\nRegistry: {host}\nFrom: x/a:1\n"
        "%post\n    cat /name > /parent\n", encoding="utf-8")
    write_def(tmp_path, f"{host}/x/a-sif:1", "%post\n    cat /name > /via-oras\n",
              bootstrap="oras", name="c.def")
    # Listed dependants first: with -j 3 they could start at once, but wait for A.
    done = defkit("build", "-j", "3", "-F", "b.def", "c.def", "a.def",
                  "--push", f"a.def=docker://{host}/x/a:1", cache=tmp_path / "cache",
                  cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # c: a pushes docker://, c wants a SIF
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines()}
    a, b, c = (str(tmp_path / name) for name in ("a.def", "b.def", "c.def"))
    assert lines[a].startswith("built ") and f"pushed docker://{host}/x/a:1@sha256:" in lines[a]
    assert lines[b].startswith("built "), done.stdout
    assert _read(tmp_path / "b.sif", "/parent") == b"a\n"  # built from what A pushed
    assert lines[c].startswith("failed "), done.stdout  # not a producer: x/a-sif:1 is unknown
    assert "Traceback" not in done.stderr

    # The oras:// form: the SIF itself, for Bootstrap: oras. A is a cache hit now, and is
    # pushed all the same.
    done = defkit("build", "-j", "2", "-F", "c.def", "a.def",
                  "--push", f"a.def=oras://{host}/x/a-sif:1", cache=tmp_path / "cache",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines()}
    assert lines[a].startswith("cached ") and f"pushed oras://{host}/x/a-sif:1@" in lines[a]
    assert lines[c].startswith("built ")
    assert _read(tmp_path / "c.sif", "/via-oras") == b"a\n"


def test_a_recipe_from_a_failed_push_is_skipped_with_the_reason(
        registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    push_busybox(registry, "x/base")
    host = registry.host
    write_def(tmp_path, f"{host}/x/base:1", "%post\n    false\n", name="a.def")
    write_def(tmp_path, f"docker://{host}/x/never:1", "%post\n    true\n", name="b.def")
    write_def(tmp_path, f"{host}/x/base:1", "%post\n    echo alone > /name\n", name="alone.def")
    done = defkit("build", "-j", "2", "-F", "a.def", "b.def", "alone.def",
                  "--push", f"a.def=docker://{host}/x/never:1", cache=tmp_path / "cache",
                  cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"failed  {tmp_path / 'a.def'}: ")
    assert lines[1] == (f"skipped {tmp_path / 'b.def'}: bootstraps from docker://{host}/x/never:1, "
                        f"pushed by {tmp_path / 'a.def'}, which failed")
    assert lines[2].startswith(f"built   {tmp_path / 'alone.def'}")
    assert not (tmp_path / "a.sif").exists() and not (tmp_path / "b.sif").exists()
    assert "defkit: 1 built, 0 cached, 1 failed, 1 skipped" in done.stderr


def test_push_names_a_recipe_that_is_built(registry: RunningRegistry,
                                           tmp_path: pathlib.Path) -> None:
    write_def(tmp_path, f"{registry.host}/x/base:1", name="a.def")
    write_def(tmp_path, f"{registry.host}/x/base:1", name="b.def")
    for push, message in [("oras://h/x:1", "name the recipe"),
                          ("other.def=oras://h/x:1", "is not one of the recipes built"),
                          ("a.def=http://h/x:1", "expected oras://HOST/REPO:TAG"),
                          ("a.def=oras://h/x:1 b.def=docker://h/x:1", "another recipe pushes")]:
        pushes = [word for value in push.split() for word in ("--push", value)]
        done = defkit("build", "-j", "2", "a.def", "b.def", *pushes, cache=tmp_path / "cache",
                      cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_a_single_build_pushes_what_it_built(registry: RunningRegistry,
                                             tmp_path: pathlib.Path) -> None:
    push_busybox(registry, "x/base")
    write_def(tmp_path, f"{registry.host}/x/base:1", "%post\n    echo one > /name\n",
              name="one.def")
    target = f"oras://{registry.host}/x/single:1"
    done = defkit("build", "--push", target, "one.def", cache=tmp_path / "cache", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"notice: pushed {tmp_path / 'one.sif'} -> {target} (sha256:" in done.stderr
    pulled = defkit("pull", target, "-o", "pulled.sif", cache=tmp_path / "cache", cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "pulled.sif").read_bytes() == (tmp_path / "one.sif").read_bytes()
    refused = defkit("build", "--push", target, "--push", target, "one.def",
                     cache=tmp_path / "cache", cwd=tmp_path)
    assert refused.returncode == 2 and "--push: one reference" in refused.stderr
