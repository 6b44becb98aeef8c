"""Failures of `Bootstrap: docker` builds: one line naming the image and the From: line, exit 1,
no traceback, no output, no half-written blob, never the password; and the credentials that do
work (environment, docker config file)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import socket

import pytest

from tests.engine.agents.helpers import tar_bytes
from tests.engine.security.canary import Canary
from tests.registry.images import defkit, leftovers, push_busybox, write_def
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")

NO_CREDENTIALS = {"APPTAINER_DOCKER_USERNAME": "", "APPTAINER_DOCKER_PASSWORD": "",
                  "SINGULARITY_DOCKER_USERNAME": "", "SINGULARITY_DOCKER_PASSWORD": ""}


def _fails(tmp_path: pathlib.Path, image: str, *words: str,
           env: dict[str, str] | None = None) -> str:
    deffile = write_def(tmp_path, image)
    output = tmp_path / "image.sif"
    cache = tmp_path / "cache"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    done = defkit("build", "--engine", "native", "-q", str(deffile), cache=cache,
                  env={"HOME": str(home), **NO_CREDENTIALS, **(env or {})})
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{deffile}:2:1: error: "), lines[0]
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not output.exists()
    assert leftovers(cache) == []
    return lines[0]


def test_unknown_tag_and_repository(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    push_busybox(registry, "errors/known")
    _fails(tmp_path, f"{registry.host}/errors/known:nope", f"{registry.host}/errors/known:nope")
    _fails(tmp_path, f"{registry.host}/errors/unknown:1", "errors/unknown")


def test_unreachable_port(tmp_path: pathlib.Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _fails(tmp_path, f"127.0.0.1:{port}/nothing/here:1", f"127.0.0.1:{port}/nothing/here:1")


def test_digest_mismatch_keeps_nothing(registry: RunningRegistry, tmp_path: pathlib.Path
                                       ) -> None:
    ref = push_busybox(registry, "errors/corrupt", extra=[tar_bytes([("x", b"x" * 4096)])])
    with registry.client() as client:
        layers = client.get_manifest(ref).json()["layers"]
    data = registry.blob_data_path("errors/corrupt", layers[-1]["digest"])
    blob = bytearray(data.read_bytes())
    blob[-20] ^= 0xFF
    data.write_bytes(bytes(blob))
    line = _fails(tmp_path, f"{registry.host}/errors/corrupt:1", "errors/corrupt")
    assert "digest" in line
    assert not list((tmp_path / "cache").rglob(layers[-1]["digest"].split(":")[1]))


def test_layer_escaping_the_rootfs(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    canary = Canary.plant(tmp_path / "host")
    push_busybox(registry, "errors/dotdot", extra=[tar_bytes([("../escaped", b"x")])])
    _fails(tmp_path, f"{registry.host}/errors/dotdot:1", "errors/dotdot")
    canary.assert_untouched()
    assert not (tmp_path / "escaped").exists()


def test_absolute_symlink_stays_inside(registry: RunningRegistry, tmp_path: pathlib.Path
                                       ) -> None:
    """An absolute symlink is resolved inside the rootfs (as in a container), so writing
    through it lands in the image, never on the host."""
    canary = Canary.plant(tmp_path / "host")
    target = str(canary.directory)
    push_busybox(registry, "errors/symlink",
                 extra=[tar_bytes([("evil", "->" + target), ("evil/pwned", b"x")])])
    deffile = write_def(tmp_path, f"{registry.host}/errors/symlink:1")
    sandbox = tmp_path / "box"
    done = defkit("build", "--engine", "native", "-q", "--sandbox", str(sandbox), str(deffile),
                  cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    canary.assert_untouched()
    assert (sandbox / target.lstrip("/") / "pwned").read_bytes() == b"x"


def test_basic_auth(auth_registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    assert auth_registry.username and auth_registry.password
    push_busybox(auth_registry, "private/app")
    image = f"{auth_registry.host}/private/app:1"
    line = _fails(tmp_path, image, "private/app",
                  env={"APPTAINER_DOCKER_USERNAME": auth_registry.username,
                       "APPTAINER_DOCKER_PASSWORD": "wrong-password-123"})
    assert "wrong-password-123" not in line
    _fails(tmp_path, image, "private/app")  # no credentials at all
    deffile = write_def(tmp_path, image)
    home = tmp_path / "home"
    done = defkit("build", "--engine", "native", "-q", "-F", str(deffile),
                  cache=tmp_path / "cache",
                  env={"HOME": str(home), "APPTAINER_DOCKER_USERNAME": auth_registry.username,
                       "APPTAINER_DOCKER_PASSWORD": auth_registry.password})
    assert done.returncode == 0, done.stderr
    (home / ".docker").mkdir(parents=True)
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    (home / ".docker" / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token.decode()}}}))
    done = defkit("build", "--engine", "native", "-F", str(deffile),
                  cache=tmp_path / "cache2", env={"HOME": str(home), **NO_CREDENTIALS})
    assert done.returncode == 0, done.stderr
    assert auth_registry.password not in done.stderr + done.stdout
    sif = tmp_path / "image.sif"
    shown = defkit("inspect", "--json", str(sif), cache=tmp_path / "cache").stdout
    assert auth_registry.password not in shown and token.decode() not in shown
    assert auth_registry.password.encode() not in sif.read_bytes()
