"""Per-stage reuse with real builds: editing the last stage of a two-stage recipe restores the
first stage from the cache (its %post does not run again, seen from the random stamp it wrote),
and a change in the first stage rebuilds both."""

from __future__ import annotations

import pathlib

import httpx
import pytest

from defkit.cache.hook import CacheOptions
from defkit.cache.remote import STAGE_LAYER
from defkit.cache.store import BuildCache
from defkit.engine.context import CacheStatus, Event
from defkit.sif.oras import OCI_MANIFEST
from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_cat
from tests.engine.engine.helpers import build_def, write_def
from tests.registry_fixture import RunningRegistry

# The first stage's %post writes a random stamp that the second stage copies: a rerun of the
# first %post cannot go unseen (a new stamp), whatever the log says.
RECIPE = """\
Bootstrap: localimage
From: ./rootfs
Stage: one

%post
    cat /proc/sys/kernel/random/uuid > /stamp
    mkdir -p /opt/tool
    printf '{first}\\n' > /opt/tool/version
    ln -s version /opt/tool/current
    chmod 750 /opt/tool/version
    chmod 555 /opt/tool

Bootstrap: localimage
From: ./rootfs
Stage: two

%files from one
    /stamp /stamp
    /opt/tool /opt/tool

%post
    printf '{second}\\n' > /second
"""


def _write(project: pathlib.Path, first: str, second: str) -> pathlib.Path:
    return write_def(project, RECIPE.format(first=first, second=second), header="")


def _stages(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.message, e.status) for e in events
            if isinstance(e, CacheStatus) and e.status in ("cached", "built")]


def _read(sif: pathlib.Path, member: str) -> bytes | None:
    return unsquash_cat(sif, member, read_sif(sif).partition_offset)


def _build(def_path: pathlib.Path, out: str, **options: object) -> tuple[pathlib.Path,
                                                                        list[Event]]:
    events: list[Event] = []
    options.setdefault("cache", CacheOptions())
    build_def(def_path, events, output=str(def_path.parent / out), **options)
    return def_path.parent / out, events


@pytest.mark.parametrize("fakeroot", [False, True], ids=["root", "rootless"])
def test_editing_the_last_stage_reuses_the_first(project: pathlib.Path, fakeroot: bool) -> None:
    def_path = _write(project, "1.0", "a")
    first, events = _build(def_path, "a.sif", fakeroot=fakeroot)
    assert _stages(events) == [("one", "built"), ("two", "built")]
    stamp = _read(first, "/stamp")
    assert stamp is not None and len(stamp.strip()) == 36

    _write(project, "1.0", "b")
    second, events = _build(def_path, "b.sif", fakeroot=fakeroot)
    assert _stages(events) == [("one", "cached"), ("two", "built")]
    # The first stage's %post did not run again: its random stamp is the one of the first build.
    assert _read(second, "/stamp") == stamp
    assert _read(second, "/second") == b"b\n"
    assert _read(second, "/opt/tool/version") == b"1.0\n"
    # The image equals a build of the same recipe with nothing cached.
    fresh, events = _build(def_path, "c.sif", fakeroot=fakeroot, cache=CacheOptions(
        enabled=False))
    assert _stages(events) == [("one", "built"), ("two", "built")]
    assert _unsquashed_listing(fresh, project / "fresh") == _unsquashed_listing(
        second, project / "second")

    _write(project, "2.0", "b")
    third, events = _build(def_path, "d.sif", fakeroot=fakeroot)
    assert _stages(events) == [("one", "built"), ("two", "built")]
    assert _read(third, "/stamp") != stamp
    assert _read(third, "/opt/tool/version") == b"2.0\n"


def _unsquashed_listing(sif: pathlib.Path, where: pathlib.Path) -> list[str]:
    """`unsquashfs -lln` of the image minus the stamp's content: names, modes, owners, sizes,
    symlink targets (times are SOURCE_DATE_EPOCH in both)."""
    import subprocess

    done = subprocess.run(["unsquashfs", "-o", str(read_sif(sif).partition_offset), "-lln",
                           "-d", str(where), str(sif)], capture_output=True, text=True,
                          check=True)
    return sorted(line.replace(str(where), "") for line in done.stdout.splitlines()
                  if str(where) in line)


def test_a_corrupt_stage_entry_is_rebuilt(project: pathlib.Path) -> None:
    def_path = _write(project, "1.0", "a")
    first, events = _build(def_path, "a.sif")
    stamp = _read(first, "/stamp")
    stage_key = next(e.key for e in events if isinstance(e, CacheStatus)
                     and e.message == "one").removeprefix("sha256-")
    entry = BuildCache().get(stage_key)
    assert entry is not None and entry.document["kind"] == "stage"
    with open(entry.image, "r+b") as handle:
        handle.seek(600)
        handle.write(b"garbage")
    _write(project, "1.0", "b")
    second, events = _build(def_path, "b.sif")
    assert _stages(events) == [("one", "built"), ("two", "built")]
    assert _read(second, "/stamp") != stamp


def test_no_cache_builds_every_stage(project: pathlib.Path) -> None:
    def_path = _write(project, "1.0", "a")
    _build(def_path, "a.sif")
    _, events = _build(def_path, "b.sif", cache=CacheOptions(enabled=False))
    assert _stages(events) == [("one", "built"), ("two", "built")]


def test_cli_rootless_as_nobody_says_cached_and_keeps_modes(
        busybox_template: pathlib.Path) -> None:
    """Really unprivileged: the stage is archived in the build's user namespace and restored by
    a user who owns nothing in the image; the image equals an uncached build's (the 0555
    directory included)."""
    import os
    import shutil
    import subprocess
    import tempfile

    from tests.engine.engine.test_build_run import _unprivileged_python

    found = _unprivileged_python()
    if found is None:
        pytest.skip("needs root (to become nobody with setpriv) and a python nobody can run")
    command, env = found
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-stage-test-"))
    try:
        os.chmod(base, 0o777)
        shutil.copytree(busybox_template, base / "rootfs", symlinks=True)
        (base / "work").mkdir()
        def_path = _write(base, "1.0", "a")
        subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
        env = {**env, "SOURCE_DATE_EPOCH": "1700000000", "DEFKIT_CACHE_DIR": str(base / "c")}

        def cli(*args: str) -> str:
            done = subprocess.run([*command, "build", "--workdir", "work", *args],
                                  cwd=base, capture_output=True, text=True, timeout=180, env=env)
            assert done.returncode == 0, done.stderr
            return done.stderr

        assert "defkit: one built" in cli("a.sif", "image.def")
        def_path.write_text(def_path.read_text().replace("'a\\n'", "'b\\n'"))
        log = cli("b.sif", "image.def")
        assert "defkit: one cached" in log and "defkit: two built" in log
        assert _read(base / "b.sif", "/stamp") == _read(base / "a.sif", "/stamp")
        assert _read(base / "b.sif", "/second") == b"b\n"
        cli("--no-cache", "c.sif", "image.def")
        listing = _unsquashed_listing(base / "c.sif", base / "fresh")
        assert any(line.startswith("dr-xr-xr-x") and line.endswith("/opt/tool")
                   for line in listing)
        assert _unsquashed_listing(base / "b.sif", base / "second") == listing
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_stage_entries_go_through_the_registry_cache(project: pathlib.Path,
                                                     registry: RunningRegistry) -> None:
    """A CI runner with an empty local store reuses the first stage another runner pushed."""
    repo = f"oras://{registry.host}/defkit/stages"
    def_path = _write(project, "1.0", "a")
    first, events = _build(def_path, "a.sif", cache=CacheOptions(
        root=str(project / "runner-a"), cache_to=repo))
    pushed = [e.key for e in events if isinstance(e, CacheStatus) and e.status == "pushed"]
    stage_tag = next(e.key for e in events if isinstance(e, CacheStatus) and e.message == "one")
    assert stage_tag in pushed and len(pushed) == 2  # the stage and the image
    manifest = httpx.get(f"{registry.url}/v2/defkit/stages/manifests/{stage_tag}",
                         headers={"Accept": OCI_MANIFEST}).json()
    assert manifest["layers"][0]["mediaType"] == STAGE_LAYER

    _write(project, "1.0", "b")
    second, events = _build(def_path, "b.sif", cache=CacheOptions(
        root=str(project / "runner-b"), cache_from=(repo,)))
    assert ("pulled", stage_tag) in [(e.status, e.key) for e in events
                                     if isinstance(e, CacheStatus)]
    assert _stages(events) == [("one", "cached"), ("two", "built")]
    assert _read(second, "/stamp") == _read(first, "/stamp")
    assert _read(second, "/second") == b"b\n"


def test_an_unreachable_registry_builds_the_stage_locally(project: pathlib.Path) -> None:
    dead = "oras://127.0.0.1:9/defkit/stages"  # the discard port: nothing listens
    def_path = _write(project, "1.0", "a")
    _, events = _build(def_path, "a.sif", cache=CacheOptions(cache_from=(dead,), cache_to=dead))
    statuses = [e.status for e in events if isinstance(e, CacheStatus)]
    assert "unreachable" in statuses and "push-failed" in statuses
    assert _stages(events) == [("one", "built"), ("two", "built")]


def test_an_entry_that_does_not_unpack_is_dropped_and_the_stage_built(
        project: pathlib.Path) -> None:
    """Sealed as whole but not a tar (as a store written by a broken tool would be): the build
    still succeeds, with the stage built and stored again."""
    def_path = _write(project, "1.0", "a")
    first, events = _build(def_path, "a.sif")
    stage_key = next(e.key for e in events if isinstance(e, CacheStatus)
                     and e.message == "one").removeprefix("sha256-")
    store = BuildCache()
    entry = store.get(stage_key)
    assert entry is not None
    with open(entry.image, "r+b") as handle:
        handle.write(b"\xff" * 1024)
    store.verify_seal(stage_key)  # the seal says whole: only unpacking can tell
    _write(project, "1.0", "b")
    second, events = _build(def_path, "b.sif")
    assert _stages(events) == [("one", "built"), ("two", "built")]
    assert any(isinstance(e, CacheStatus) and "unusable entry removed" in e.message
               for e in events)
    assert _read(second, "/stamp") != _read(first, "/stamp")
    assert store.get(stage_key) is not None  # stored again
