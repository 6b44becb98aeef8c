"""`defkit lock`, `lock --check`, builds that use the lock file, and the base-tag-moved rule,
against a real docker-registry whose tag the test moves."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from defkit.arch import host_arch
from tests.engine.agents.helpers import tar_bytes
from tests.registry.images import defkit, push_busybox, push_index, write_def
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")


def _base_digest(sif: pathlib.Path, cache: pathlib.Path) -> str:
    info = json.loads(defkit("inspect", "--json", str(sif), cache=cache).stdout)
    return str(info["data"]["attributes"]["labels"]["org.opencontainers.image.base.digest"])


def test_lock_check_and_build_with_the_lock(registry: RunningRegistry,
                                            tmp_path: pathlib.Path) -> None:
    old = push_busybox(registry, "lock/app", extra=[tar_bytes([("version", b"old\n")])])
    image = f"{registry.host}/lock/app:1"
    deffile = write_def(tmp_path, image)
    cache = tmp_path / "cache"
    done = defkit("lock", str(deffile), cache=cache)
    assert done.returncode == 0, done.stderr
    lock = json.loads((tmp_path / "image.def.lock").read_text())
    assert lock["version"] == 1
    assert lock["bases"] == [{"stage": "1", "bootstrap": "docker", "source": image,
                              "reference": image, "arch": host_arch(), "digest": old.digest,
                              "manifest": old.digest}]
    assert defkit("lock", "--check", str(deffile), cache=cache).returncode == 0

    new = push_busybox(registry, "lock/app", extra=[tar_bytes([("version", b"new\n")])])
    assert new.digest != old.digest
    done = defkit("lock", "--check", str(deffile), cache=cache)
    assert done.returncode == 1
    assert done.stderr == (f"{deffile}:2:1: error: {image} moved: locked {old.digest}, "
                           f"now {new.digest}\n")
    lint = defkit("lint", "--no-shellcheck", "--select", "base-tag-moved", str(deffile),
                  cache=cache)
    assert lint.returncode == 1
    assert f"{deffile}:2:7: DK206 [base-tag-moved]" in lint.stdout
    assert old.digest is not None and new.digest is not None
    assert old.digest in lint.stdout and new.digest in lint.stdout

    # A fresh machine (empty cache) with the lock: the old digest, and no question about the tag.
    before = len(registry.request_log())
    sandbox = tmp_path / "box"
    done = defkit("build", "-q", "--engine", "native", "--sandbox", str(sandbox), str(deffile),
                  cache=tmp_path / "fresh")
    assert done.returncode == 0, done.stderr
    assert (sandbox / "version").read_text() == "old\n"
    asked = [r.path for r in registry.request_log()[before:] if r.path.endswith("/manifests/1")]
    assert asked == []
    sif = tmp_path / "image.sif"
    assert defkit("build", "-q", "--engine", "native", str(deffile), cache=cache).returncode == 0
    assert _base_digest(sif, cache) == old.digest

    # Relocking follows the tag; --check passes again.
    assert defkit("lock", str(deffile), cache=cache).returncode == 0
    assert defkit("lock", "--check", str(deffile), cache=cache).returncode == 0
    assert defkit("lint", "--no-shellcheck", "--select", "base-tag-moved", str(deffile),
                  cache=cache).returncode == 0


def test_lock_per_arch_and_a_stale_lock(registry: RunningRegistry, tmp_path: pathlib.Path
                                        ) -> None:
    other = "arm64" if host_arch() != "arm64" else "amd64"
    index = push_index(registry, "lock/multi", "1",
                       {f"linux/{host_arch()}": b"host", f"linux/{other}": b"other"})
    image = f"{registry.host}/lock/multi:1"
    deffile = write_def(tmp_path, image)
    cache = tmp_path / "cache"
    done = defkit("lock", "--arch", host_arch(), "--arch", other, str(deffile), cache=cache)
    assert done.returncode == 0, done.stderr
    bases = json.loads((tmp_path / "image.def.lock").read_text())["bases"]
    assert [b["arch"] for b in bases] == [host_arch(), other]
    assert {b["digest"] for b in bases} == {index.digest}
    assert len({b["manifest"] for b in bases}) == 2
    sandbox = tmp_path / "box"
    done = defkit("build", "-q", "--engine", "native", "--arch", other, "--sandbox",
                  str(sandbox), str(deffile), cache=cache)
    assert done.returncode == 0, done.stderr
    assert (sandbox / "arch").read_text() == "other"

    write_def(tmp_path, f"{registry.host}/lock/app:1")  # the def changed, the lock did not
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=cache)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{deffile}:2:1: error: {deffile}.lock does not pin From: ")
    assert "run `defkit lock image.def`" in done.stderr
    assert defkit("lock", "--check", str(deffile), cache=cache).returncode == 1
