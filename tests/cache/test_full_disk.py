"""A full disk fails cleanly (#14): builds, the build cache and the blob store on a 4 MiB tmpfs
that fills up. Each failure is one `error:` line and exit 1 (a cache that cannot keep the image
is a warning: the image is built); nothing half-written stays behind (no output, no cache entry,
no blob, no temporary file); and the same build succeeds once there is room."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.registry.images import push_busybox
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mksquashfs") is None,
                                reason="mounting a tmpfs needs root; builds need squashfs-tools")

#: Random bytes do not compress: the image, the squashfs and the blob are each larger than this.
BIG = 6_000_000
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture()
def small(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A 4 MiB tmpfs, unmounted afterwards whatever happens."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _grow(mount: pathlib.Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)


def defkit(*args: str, cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run([sys.executable, "-m", "defkit", *args], cwd=cwd,
                          env={**os.environ, **EPOCH, **env}, capture_output=True, text=True,
                          timeout=300)


def _files(root: pathlib.Path) -> list[str]:
    """Every file and directory under `root` but the build cache's lock files (kept by design:
    a lock is reused by the next build of its key)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if ".locks" not in p.parts)


def _def(directory: pathlib.Path, rootfs: pathlib.Path, size: int) -> pathlib.Path:
    path = directory / "big.def"
    path.write_text(f"Bootstrap: localimage\nFrom: {rootfs}\n%post\n"
                    f"    head -c {size} /dev/urandom > /big\n", encoding="utf-8")
    return path


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize("size", [BIG, 1_500_000], ids=["post-fills-it", "squashfs-fills-it"])
def test_a_build_whose_disk_fills_fails_cleanly_then_succeeds_with_room(
        project: pathlib.Path, small: pathlib.Path, size: int) -> None:
    """The def, its output, the work directory and the cache on the small disk: %post (6 MB)
    or mksquashfs (1.5 MB over a 2 MiB rootfs) is the one to hit the wall."""
    (small / "work").mkdir()
    deffile = _def(small, project / "rootfs", size)
    env = {"TMPDIR": str(small / "work"), "DEFKIT_CACHE_DIR": str(small / "cache")}
    done = defkit("build", "-q", "big.def", cwd=small, env=env)
    assert done.returncode == 1, done.stderr
    errors = _errors(done.stderr)
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert ("No space left" in done.stderr or "Failed to write" in done.stderr
            or f"{deffile}:4:5: error: %post failed" in errors[0]), errors
    assert _files(small) == ["big.def", "cache", "cache/builds", "cache/stat-cache.json",
                             "work"]

    _grow(small)
    again = defkit("build", "-q", "big.def", cwd=small, env=env)
    assert again.returncode == 0, again.stderr
    assert (small / "big.sif").stat().st_size > size
    assert len([p for p in (small / "cache" / "builds").iterdir() if p.name != ".locks"]) == 1


def test_an_output_that_does_not_fit_fails_cleanly(project: pathlib.Path,
                                                   small: pathlib.Path) -> None:
    """Only the SIF goes to the small disk (the work directory and cache have room): the SIF
    writer's ENOSPC names the output, and no temporary SIF is left next to it."""
    _def(small, project / "rootfs", BIG)
    env = {"TMPDIR": str(project / "work"), "DEFKIT_CACHE_DIR": str(project / "cache")}
    done = defkit("build", "-q", "big.def", cwd=small, env=env)
    assert done.returncode == 1
    assert _errors(done.stderr) == [f"{small / 'big.sif'}: error: cannot write "
                                    f"{small / 'big.sif'}: No space left on device"]
    assert _files(small) == ["big.def"]
    assert os.listdir(project / "work") == []
    assert [p.name for p in (project / "cache" / "builds").iterdir()] == [".locks"]


def test_a_cache_that_cannot_keep_the_image_is_a_warning(project: pathlib.Path,
                                                         small: pathlib.Path) -> None:
    """Only the build cache on the small disk: the image is built and placed, the cache says it
    did not keep it, and it holds no part of the entry."""
    _def(project, project / "rootfs", BIG)
    env = {"TMPDIR": str(project / "work"), "DEFKIT_CACHE_DIR": str(small / "cache")}
    done = defkit("build", "big.def", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert (project / "big.sif").stat().st_size > BIG
    assert "warning: cache not-stored" in done.stderr and "no space left" in done.stderr
    assert _files(small) == ["cache", "cache/builds", "cache/stat-cache.json"]
    assert os.listdir(project / "work") == []


def test_a_pull_that_fills_the_blob_store_fails_cleanly(
        registry: RunningRegistry, tmp_path: pathlib.Path, small: pathlib.Path) -> None:
    """`Bootstrap: docker` of an image with a 6 MB layer, the blob store on the small disk: one
    error naming the image, no blob and no partial download left; with room, it builds."""
    from tests.engine.agents.helpers import tar_bytes

    ref = push_busybox(registry, "full/big", extra=[tar_bytes([("big", os.urandom(BIG))])])
    where = tmp_path / "project"
    (where / "work").mkdir(parents=True)
    deffile = where / "big.def"
    deffile.write_text(f"Bootstrap: docker\nFrom: {registry.host}/full/big:1\n",
                       encoding="utf-8")
    env = {"TMPDIR": str(where / "work"), "DEFKIT_CACHE_DIR": str(small / "cache")}
    done = defkit("build", "-q", "big.def", cwd=where, env=env)
    assert done.returncode == 1, done.stderr
    errors = _errors(done.stderr)
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert errors[0].startswith(f"{deffile}:2:") and "No space left" in errors[0], errors
    assert not (where / "big.sif").exists() and os.listdir(where / "work") == []
    blobs = small / "cache" / "blobs"
    left = [p for p in blobs.rglob("*") if p.is_file() and not p.name.endswith(".lock")] \
        if blobs.exists() else []
    # Only blobs that were downloaded whole and checked may stay (the small ones before).
    from defkit.cache.store import sha256_file

    for path in left:
        assert path.name.endswith(sha256_file(str(path)).split(":")[1]), path
    assert len(left) >= 2 and ref.digest is not None  # the manifest and config were kept

    _grow(small)
    again = defkit("build", "-q", "big.def", cwd=where, env=env)
    assert again.returncode == 0, again.stderr
    assert (where / "big.sif").stat().st_size > BIG


def test_a_pull_whose_output_does_not_fit_fails_cleanly(
        registry: RunningRegistry, tmp_path: pathlib.Path, small: pathlib.Path) -> None:
    """`defkit pull oras://` of a 6 MB SIF to the small disk: one error line, no output and no
    temporary beside it; with room, the same pull succeeds."""
    from defkit.sif.oras import push_sif
    from defkit.sif.writer import write_sif

    payload = tmp_path / "payload.sqfs"
    payload.write_bytes(os.urandom(BIG))
    sif = tmp_path / "big.sif"
    write_sif(sif, definition=b"Bootstrap: scratch\n", inspect_metadata=b"{}",
              squashfs_path=str(payload), arch="amd64", deterministic_from=b"full-disk")
    with registry.client() as client:
        push_sif(client, str(sif), registry.ref("full/sif:1"))
    env = {"DEFKIT_CACHE_DIR": str(tmp_path / "cache")}
    source = f"oras://{registry.host}/full/sif:1"
    done = defkit("pull", "-q", source, "-o", "out.sif", cwd=small, env=env)
    assert done.returncode == 1
    errors = _errors(done.stderr)
    assert len(errors) == 1 and "No space left" in errors[0] and "Traceback" not in done.stderr
    assert _files(small) == []

    _grow(small)
    again = defkit("pull", "-q", source, "-o", "out.sif", cwd=small, env=env)
    assert again.returncode == 0, again.stderr
    assert (small / "out.sif").read_bytes() == sif.read_bytes()
