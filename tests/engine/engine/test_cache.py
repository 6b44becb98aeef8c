"""The build cache with real builds: hits place identical bytes without running anything, each
kind of change misses, concurrent builds of one key build once, corrupt entries are rebuilt, a
killed build leaves no entry, gc honours its limits."""

from __future__ import annotations

import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from defkit.cache.hook import CacheOptions
from defkit.cache.store import BuildCache
from defkit.engine.context import CacheStatus, Event
from defkit.errors import BuildError
from defkit.sif.oras import OCI_MANIFEST as SIF_MANIFEST
from defkit.sif.oras import SIF_LAYER
from tests.engine.engine.helpers import build_def, defkit, write_def
from tests.registry_fixture import RunningRegistry

# %setup runs on the host: each real build appends a line to `runs`, a side effect a cache hit
# cannot fake. %post writes a random stamp, so two real builds never give identical bytes.
BODY = """
%setup
    echo built >> {runs}

%files
    data /opt/data

%post
    cat /proc/sys/kernel/random/uuid > /stamp
"""


def _project(project: pathlib.Path) -> pathlib.Path:
    (project / "data").mkdir()
    (project / "data" / "a.txt").write_text("alpha\n")
    return write_def(project, BODY.format(runs=project / "runs"))


def _runs(project: pathlib.Path) -> int:
    path = project / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _build(def_path: pathlib.Path, out: str, events: list[Event] | None = None,
           **options: object) -> bytes:
    options.setdefault("cache", CacheOptions())
    build_def(def_path, events, output=str(def_path.parent / out), **options)
    return (def_path.parent / out).read_bytes()


def _statuses(events: list[Event]) -> list[str]:
    return [e.status for e in events if isinstance(e, CacheStatus)]


def test_hit_places_identical_bytes_without_building(project: pathlib.Path) -> None:
    def_path = _project(project)
    events: list[Event] = []
    first = _build(def_path, "a.sif", events)
    assert _statuses(events) == ["miss", "stored"] and _runs(project) == 1
    events.clear()
    second = _build(def_path, "b.sif", events)
    assert _statuses(events) == ["hit"]
    assert _runs(project) == 1
    assert second == first
    assert len(BuildCache().entries()) == 1


def test_a_hit_over_its_own_hard_link_leaves_nothing_beside_the_output(
        project: pathlib.Path) -> None:
    """Building the same image twice to one path: the second hit finds the output already
    linked to the entry, where rename(2) leaves both names; no temporary name may stay."""
    def_path = _project(project)
    first = _build(def_path, "a.sif")  # built
    assert _build(def_path, "a.sif") == first  # a hit: the output becomes a link to the entry
    assert _build(def_path, "a.sif") == first  # a hit onto that link
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".a.sif")) == []


@pytest.mark.parametrize("change", ["def text", "file", "build option"])
def test_each_kind_of_change_misses(project: pathlib.Path, change: str) -> None:
    def_path = _project(project)
    first = _build(def_path, "a.sif")
    options: dict[str, Any] = {}
    if change == "def text":
        def_path.write_text(def_path.read_text() + "\n%labels\n    x y\n")
    elif change == "file":
        (project / "data" / "a.txt").write_text("beta\n")
    else:
        options["source_date_epoch"] = 1700000001
    second = _build(def_path, "b.sif", **options)
    assert _runs(project) == 2
    assert second != first


def test_no_cache_builds_and_cache_only_fails_on_a_miss(project: pathlib.Path) -> None:
    def_path = _project(project)
    with pytest.raises(BuildError, match="--cache-only"):
        _build(def_path, "a.sif", cache=CacheOptions(only=True))
    assert _runs(project) == 0 and not (project / "a.sif").exists()
    _build(def_path, "a.sif")
    _build(def_path, "b.sif", cache=CacheOptions(enabled=False))
    assert _runs(project) == 2
    _build(def_path, "c.sif", cache=CacheOptions(only=True))
    assert _runs(project) == 2


def test_a_corrupt_entry_is_rebuilt_never_returned(project: pathlib.Path) -> None:
    def_path = _project(project)
    first = _build(def_path, "a.sif")
    (entry,) = BuildCache().entries()
    os.chmod(entry.image, 0o644)
    with open(entry.image, "r+b") as handle:
        handle.seek(entry.size // 2)
        handle.write(b"\xff" * 16)
    events: list[Event] = []
    second = _build(def_path, "b.sif", events)
    assert _statuses(events) == ["miss", "stored"]
    assert _runs(project) == 2
    assert second != first  # a fresh build (new stamp), not the corrupt bytes
    assert b"\xff" * 16 not in second[entry.size // 2 - 8: entry.size // 2 + 24]


def test_writing_through_a_hardlinked_output_does_not_poison_the_cache(
        project: pathlib.Path) -> None:
    def_path = _project(project)
    _build(def_path, "a.sif")
    good = _build(def_path, "b.sif")
    target = project / "b.sif"
    os.chmod(target, 0o644)
    with open(target, "r+b") as handle:  # root writes through whatever mode it has
        handle.write(b"garbage!")
    third = _build(def_path, "c.sif")
    assert third[:8] != b"garbage!"
    assert _runs(project) in (1, 2)  # rebuilt only when the output shared the entry's inode
    if _runs(project) == 1:
        assert third == good


def test_concurrent_builds_of_one_key_build_once(project: pathlib.Path) -> None:
    def_path = _project(project)
    procs = [subprocess.Popen([sys.executable, "-m", "defkit", "build", "-q", "--engine",
                               "native", "-o", str(project / f"{n}.sif"), str(def_path)],
                              env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
             for n in ("one", "two")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _runs(project) == 1
    assert (project / "one.sif").read_bytes() == (project / "two.sif").read_bytes()


def _processes_running(argv: bytes) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0") == argv:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_kill_9_mid_build_leaves_no_output_no_entry_no_process(project: pathlib.Path) -> None:
    seconds = f"{30 + secrets.randbelow(10**6) / 10**6:.6f}"  # a command line no one else runs
    def_path = write_def(project, f"%post\n    touch /started\n    sleep {seconds}\n")
    out = project / "killed.sif"
    proc = subprocess.Popen([sys.executable, "-m", "defkit", "build", "-q", "--engine", "native",
                             "--workdir", str(project / "work"), "-o", str(out), str(def_path)])
    deadline = time.monotonic() + 60
    while not any((project / "work").glob("*/stage-1/rootfs/started")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    sleeper = f"sleep\0{seconds}".encode()
    assert _processes_running(sleeper)  # %post is running
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _processes_running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = _processes_running(sleeper)
    for pid in orphans:  # this test's own leftovers, by their pid
        os.kill(pid, signal.SIGKILL)
    assert orphans == []  # %post died with the build (PR_SET_PDEATHSIG + --kill-child)
    assert not out.exists()
    assert BuildCache().entries() == []
    (dead,) = (project / "work").glob(".defkit-build-*")
    # The next build is not blocked by the dead build's lock, and reclaims its work directory.
    def_path.write_text(def_path.read_text().replace(f"sleep {seconds}", "true"))
    _build(def_path, "next.sif")
    assert (project / "next.sif").exists()
    assert not dead.exists()
    assert list((project / "work").glob(".defkit-build-*")) == []


def test_gc_limits_and_held_entries(project: pathlib.Path) -> None:
    def_path = _project(project)
    _build(def_path, "a.sif")
    _build(def_path, "b.sif", source_date_epoch=1700000001)
    store = BuildCache()
    old, new = store.entries()
    assert store.gc(max_age=3600) == []
    with store.locked(old.key):
        held = subprocess.run([sys.executable, "-m", "defkit", "cache", "gc", "--max-size", "0"],
                              capture_output=True, text=True)
    assert held.returncode == 0, held.stderr
    assert [e.key for e in store.entries()] == [old.key]  # the held one stays
    listed = defkit("cache", "ls")
    assert f"sha256-{old.key}" in listed.stdout
    info = defkit("cache", "info", old.key)
    assert info.returncode == 0 and '"source_date_epoch": 1700000000' in info.stdout
    removed = store.gc(max_age=0, now=time.time() + 10)
    assert [e.key for e in removed] == [old.key]
    assert store.entries() == []
    assert defkit("cache", "rm", old.key).returncode != 0


def test_explain_key_names_what_it_cannot_pin(project: pathlib.Path) -> None:
    def_path = _project(project)
    result = defkit("build", "--explain-key", str(def_path))
    assert result.returncode == 0, result.stderr
    assert '"key": "sha256-' in result.stdout
    assert "%setup runs on the host" in result.stderr
    assert not (project / "image.sif").exists()


def test_a_full_cache_disk_is_a_warning_and_leaves_nothing_half_written(
        project: pathlib.Path) -> None:
    _project(project)
    cache = project / "tiny-cache"
    cache.mkdir()
    script = ('mount -t tmpfs -o size=256k tmpfs "$DEFKIT_CACHE_DIR" && '
              f'"{sys.executable}" -m defkit build --engine native -o out.sif image.def && '
              'ls -A "$DEFKIT_CACHE_DIR/builds"')
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          cwd=project, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DEFKIT_CACHE_DIR": str(cache),
                               "SOURCE_DATE_EPOCH": "1700000000"})
    assert done.returncode == 0, done.stderr
    assert "cache not-stored" in done.stderr and "no space left" in done.stderr
    assert (project / "out.sif").stat().st_size > 256 * 1024
    assert done.stdout.split() == [".locks"]  # no entry, no temporary left in the store


def test_registry_cache_hit_on_an_empty_local_store(project: pathlib.Path,
                                                    registry: RunningRegistry) -> None:
    def_path = _project(project)
    repo = f"oras://{registry.host}/defkit/cache"
    env = {"SOURCE_DATE_EPOCH": "1700000000", "DEFKIT_CACHE_DIR": str(project / "cache-a")}
    pushed = defkit("build", "--engine", "native", "--cache-to", repo, "-o",
                    str(project / "a.sif"), str(def_path), env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert "cache pushed sha256-" in pushed.stderr
    key = pushed.stderr.split("cache pushed ")[1].split()[0]
    # What Apptainer would pull: Apptainer's SIF layout, the key as an annotation.
    manifest = httpx.get(f"{registry.url}/v2/defkit/cache/manifests/{key}",
                         headers={"Accept": SIF_MANIFEST}).json()
    assert manifest["layers"][0]["mediaType"] == SIF_LAYER
    assert manifest["annotations"]["io.defkit.cache-key"] == key.removeprefix("sha256-")
    env["DEFKIT_CACHE_DIR"] = str(project / "cache-b")  # empty
    pulled = defkit("build", "--engine", "native", "--cache-from", repo, "-o",
                    str(project / "b.sif"), str(def_path), env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert f"cache pulled {key}" in pulled.stderr
    assert _runs(project) == 1
    assert (project / "b.sif").read_bytes() == (project / "a.sif").read_bytes()


def test_an_unreachable_cache_registry_warns_and_builds_locally(project: pathlib.Path) -> None:
    def_path = _project(project)
    dead = "oras://127.0.0.1:9/defkit/cache"  # the discard port: nothing listens
    done = defkit("build", "--engine", "native", "--cache-from", dead, "--cache-to", dead,
                  "-o", str(project / "a.sif"), str(def_path),
                  env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert done.returncode == 0, done.stderr
    assert "warning: cache unreachable" in done.stderr
    assert "warning: cache push-failed" in done.stderr
    assert _runs(project) == 1 and (project / "a.sif").exists()


def test_an_unwritable_cache_is_a_warning_and_the_build_goes_on(project: pathlib.Path) -> None:
    def_path = _project(project)
    blocker = project / "not-a-directory"
    blocker.write_text("")
    events: list[Event] = []
    _build(def_path, "a.sif", events, cache=CacheOptions(root=str(blocker / "builds")))
    assert _statuses(events) == ["unavailable"]
    assert _runs(project) == 1 and (project / "a.sif").exists()
    with pytest.raises(Exception, match="build cache"):
        _build(def_path, "b.sif", cache=CacheOptions(root=str(blocker / "builds"), only=True))
