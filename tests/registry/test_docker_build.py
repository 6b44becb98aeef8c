"""`Bootstrap: docker` against a real docker-registry on 127.0.0.1 (plain HTTP): images the
tests push themselves from a busybox rootfs, built, run and inspected."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from tests.registry.images import (
    blob_gets,
    defkit,
    push_busybox,
    push_index,
    write_def,
)
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layers_whiteouts_symlink_and_config(registry: RunningRegistry, tmp_path: pathlib.Path,
                                             compression: str) -> None:
    ref = push_busybox(registry, f"docker/layers-{compression}", compression=compression)
    tag = f"{registry.host}/docker/layers-{compression}:1"
    deffile = write_def(tmp_path, tag, "\n%post\n    echo \"$GREETING\" > /post-saw\n")
    sif = tmp_path / "image.sif"
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    sandbox = tmp_path / "box"
    done = defkit("build", "-q", "--sandbox", str(sandbox), str(sif), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert not (sandbox / "etc" / "removed-later").exists()  # whiteout
    assert sorted(os.listdir(sandbox / "opt" / "data")) == ["new"]  # opaque directory
    assert os.readlink(sandbox / "opt" / "link") == "data/new"
    assert (sandbox / "post-saw").read_text() == "from the image\n"  # Env in %post
    run = defkit("run", str(sif), cache=tmp_path / "cache")
    assert run.stdout == "entry default cmd\n", run.stderr  # Entrypoint + Cmd
    run = defkit("run", str(sif), "given", cache=tmp_path / "cache")
    assert run.stdout == "entry given\n"
    info = json.loads(defkit("inspect", "--json", str(sif), cache=tmp_path / "cache").stdout)
    labels = info["data"]["attributes"]["labels"]
    assert labels["org.opencontainers.image.base.digest"] == ref.digest
    assert labels["org.example.base"] == "busybox"


def test_second_build_downloads_nothing(registry: RunningRegistry, tmp_path: pathlib.Path
                                        ) -> None:
    push_busybox(registry, "docker/cached")
    deffile = write_def(tmp_path, f"{registry.host}/docker/cached:1")
    cache = tmp_path / "cache"
    before = len(registry.request_log())
    assert defkit("build", "-q", "--engine", "native", str(deffile), cache=cache).returncode == 0
    first = blob_gets(registry, before)
    assert sum("/blobs/" in path for path in first) == 3  # the config and two layers
    middle = len(registry.request_log())
    done = defkit("build", "-q", "-F", "--engine", "native", str(deffile), cache=cache)
    assert done.returncode == 0, done.stderr
    assert blob_gets(registry, middle) == []  # only the tag's HEAD: nothing downloaded


def _arch_of(tmp_path: pathlib.Path, image: str, *args: str) -> str:
    sandbox = tmp_path / f"box{len(os.listdir(tmp_path))}"
    deffile = write_def(tmp_path, image)
    done = defkit("build", "-q", "--engine", "native", "--sandbox", str(sandbox), *args,
                  str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    return (sandbox / "arch").read_text()


def test_index_picks_the_platform(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    from defkit.arch import host_arch

    other = "arm64" if host_arch() != "arm64" else "amd64"
    platforms = {f"linux/{host_arch()}": b"host", "linux/arm/v6": b"armv6",
                 "linux/arm/v7": b"armv7"}
    platforms[f"linux/{other}/v8" if other == "arm64" else f"linux/{other}"] = b"other"
    push_index(registry, "docker/multi", "1", platforms)
    image = f"{registry.host}/docker/multi:1"
    assert _arch_of(tmp_path, image) == "host"
    assert _arch_of(tmp_path, image, "--arch", other) == "other"
    assert _arch_of(tmp_path, image, "--arch", "arm/v6") == "armv6"
    assert _arch_of(tmp_path, image, "--arch", "arm") == "armv7"  # Docker's default variant
    deffile = write_def(tmp_path, image)
    done = defkit("build", "-q", "--engine", "native", "--arch", "s390x", "-o",
                  str(tmp_path / "none.sif"), str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 1
    assert done.stderr.startswith(f"{deffile}:2:1: error: ")
    assert "no image for linux/s390x" in done.stderr
    for name in (f"linux/{host_arch()}", "linux/arm/v6", "linux/arm/v7"):
        assert name in done.stderr
    assert not (tmp_path / "none.sif").exists()
