"""Each bootstrap agent end to end, with real inputs built here: a sandbox directory, a SIF
written by siftool, OCI layouts, an OCI archive and a docker-save archive."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from defkit.arch import host_arch
from defkit.engine import agents
from defkit.engine.agents import debootstrap
from defkit.errors import BuildError
from tests.engine.agents.helpers import (
    busybox_rootfs,
    context,
    docker_archive,
    image_config,
    in_rootfs,
    oci_layout,
    sif_with_siftool,
    stage,
    tar_bytes,
    tar_directory,
    tree_entries,
)

ARCH = host_arch()
OTHER_ARCH = "arm64" if ARCH != "arm64" else "amd64"


# --- registry ----------------------------------------------------------------------------------


def test_names_are_exact_and_aliases_resolve() -> None:
    assert agents.get("dnf") is agents.get("yum")
    assert agents.get("dockerfile") is agents.get("buildkit")
    with pytest.raises(BuildError, match="invalid build source Docker.*did you mean docker"):
        agents.get("Docker")
    with pytest.raises(BuildError, match="invalid build source nope"):
        agents.get("nope")


@pytest.mark.parametrize("name", ["yum", "zypper", "arch", "busybox", "docker-daemon", "shub",
                                  "dockerfile"])
def test_unsupported_agents_fail_at_once_with_an_alternative(name: str, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not supported by defkit's native engine yet; "):
        agents.get(name).check(stage(f"Bootstrap: {name}\nFrom: x\n"), context(tmp_path))


# --- scratch and localimage --------------------------------------------------------------------


def test_scratch_gives_the_base_layout_only(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    result = agents.get("scratch").bootstrap(stage("Bootstrap: scratch\n"), str(rootfs),
                                             context(tmp_path))
    assert result.fakeroot_state is None
    assert (rootfs / ".singularity.d" / "actions" / "run").is_file()
    assert not (rootfs / "bin").exists()


def test_localimage_requires_from_and_an_image(tmp_path: Path) -> None:
    agent = agents.get("localimage")
    with pytest.raises(BuildError, match="needs the header key From"):
        agent.check(stage("Bootstrap: localimage\n"), context(tmp_path))
    with pytest.raises(BuildError, match="does not exist"):
        agent.check(stage("Bootstrap: localimage\nFrom: missing\n"), context(tmp_path))
    (tmp_path / "junk").write_text("not an image")
    with pytest.raises(BuildError, match="neither a SIF"):
        agent.check(stage("Bootstrap: localimage\nFrom: junk\n"), context(tmp_path))


def test_localimage_sandbox_directory_keeps_metadata(tmp_path: Path) -> None:
    source = busybox_rootfs(tmp_path / "busybox-rootfs")
    (source / "etc" / "secret").write_text("s")
    os.chmod(source / "etc" / "secret", 0o600)
    (source / ".singularity.d").mkdir()
    (source / ".singularity.d" / "runscript").write_text("#!/bin/sh\necho mine\n")
    os.chmod(source / ".singularity.d" / "runscript", 0o755)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    agents.get("localimage").bootstrap(
        stage("Bootstrap: localimage\nFrom: ./busybox-rootfs\n"), str(rootfs), context(tmp_path))
    assert os.readlink(rootfs / "bin" / "sh") == "/bin/busybox"
    assert os.stat(rootfs / "etc" / "secret").st_mode & 0o777 == 0o600
    # The image's own runscript is kept; what it lacked is added.
    assert in_rootfs(rootfs, ["/.singularity.d/actions/run"]).stdout == "mine\n"
    assert (rootfs / ".singularity.d" / "env" / "99-base.sh").is_file()


@pytest.mark.parametrize("mode", ["root", "userns"])
def test_localimage_sif_made_by_siftool(tmp_path: Path, mode: str) -> None:
    source = busybox_rootfs(tmp_path / "src")
    (source / "hello").write_text("from the sif\n")
    sif = sif_with_siftool(source, tmp_path / "base.sif", pseudo=["dev/null c 666 0 0 1 3"])
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("extracting as real root needs root")
    result = agents.get("localimage").bootstrap(
        stage(f"Bootstrap: localimage\nFrom: {sif}\n"), str(rootfs),
        context(tmp_path, mode=mode))  # type: ignore[arg-type]
    assert (rootfs / "hello").read_text() == "from the sif\n"
    assert in_rootfs(rootfs, ["/bin/sh", "-c", "echo ok"]).stdout == "ok\n"
    if mode == "userns":
        # No device node can be made in a user namespace: it is kept for the image writer.
        assert [(d.path, d.kind, d.major, d.minor, d.mode) for d in result.devices] == [
            ("/dev/null", "c", 1, 3, 0o666)]
    else:
        assert os.major(os.stat(rootfs / "dev" / "null").st_rdev) == 1


def test_localimage_bare_squashfs_keeps_foreign_owners_rootless(tmp_path: Path) -> None:
    source = busybox_rootfs(tmp_path / "src")
    (source / "etc" / "shadow").write_text("root:*:1::::::\n")
    squashfs = tmp_path / "base.sqfs"
    subprocess.run(["mksquashfs", str(source), str(squashfs), "-noappend", "-quiet",
                    "-no-progress", "-p", "etc/shadow m 640 0 42"], check=True)
    rootfs = tmp_path / "rootfs"
    result = agents.get("localimage").bootstrap(
        stage("Bootstrap: localimage\nFrom: base.sqfs\n"), str(rootfs),
        context(tmp_path, mode="userns"))
    assert (rootfs / "etc" / "shadow").read_text().startswith("root:")
    assert ("/etc/shadow", 0o640, 0, 42) in result.ownership


# --- OCI layouts and archives ------------------------------------------------------------------


def busybox_layers(tmp_path: Path) -> list[bytes]:
    base = tar_bytes(tree_entries(busybox_rootfs(tmp_path / "bb")), gz=True)
    top = tar_bytes([("opt", None), ("opt/app", None), ("opt/app/tool", b"#!/bin/sh\necho tool\n"),
                     ("opt/old", b"old"), ("etc/motd", b"one")])
    patch = tar_bytes([("opt/.wh.old", b""), ("opt/app/.wh..wh..opq", b""),
                       ("opt/app/new", b"new"), ("etc/motd", b"two")])
    return [base, top, patch]


CONFIG = {
    "Env": ["PATH=/opt/bin:/bin:/usr/bin", "GREETING=hi there", "EMPTY"],
    "Entrypoint": ["/bin/echo", "entry"],
    "Cmd": ["default arg"],
    "WorkingDir": "/opt",
    "Labels": {"org.example.vendor": "defkit tests"},
}


def check_unpacked(rootfs: Path) -> None:
    assert (rootfs / "etc" / "motd").read_text() == "two"
    assert not (rootfs / "opt" / "old").exists()
    assert sorted(os.listdir(rootfs / "opt" / "app")) == ["new"]
    labels = json.loads((rootfs / ".singularity.d" / "labels.json").read_text())
    assert labels == {"org.example.vendor": "defkit tests"}
    run = in_rootfs(rootfs, ["/.singularity.d/actions/run"])
    assert run.stdout == "entry default arg\n"
    run = in_rootfs(rootfs, ["/.singularity.d/actions/run", "a b", "c"])
    assert run.stdout == "entry a b c\n"
    env = in_rootfs(rootfs, ["/.singularity.d/actions/exec", "/bin/sh", "-c",
                             'echo "$GREETING|$PATH|${EMPTY-unset}"'], env={"GREETING": "mine"})
    assert env.stdout == "mine|/opt/bin:/bin:/usr/bin|\n"


def test_oci_layout_picks_the_platform_and_applies_layers(tmp_path: Path) -> None:
    layers = busybox_layers(tmp_path)
    layout = oci_layout(tmp_path / "layout", [
        (OTHER_ARCH, image_config(OTHER_ARCH), [tar_bytes([("wrong", b"x")])], None),
        (ARCH, image_config(ARCH, **CONFIG), layers, None),
    ])
    rootfs = tmp_path / "rootfs"
    agent = agents.get("oci")
    agent.check(stage("Bootstrap: oci\nFrom: layout\n"), context(tmp_path))
    result = agent.bootstrap(stage("Bootstrap: oci\nFrom: layout\n"), str(rootfs),
                             context(tmp_path))
    assert not (rootfs / "wrong").exists()
    check_unpacked(rootfs)
    assert result.image_config is not None and result.image_config.working_dir == "/opt"
    assert result.image_config.entrypoint == ("/bin/echo", "entry")
    assert json.loads(result.oci_config_json or b"")["Cmd"] == ["default arg"]
    assert layout.is_dir()


def test_oci_tag_selection_and_errors(tmp_path: Path) -> None:
    small = [tar_bytes([("tagged", b"v1")])]
    oci_layout(tmp_path / "layout", [(ARCH, image_config(ARCH), small, "v1"),
                                     (ARCH, image_config(ARCH), [tar_bytes([("b", b"")])], "v2")])
    rootfs = tmp_path / "rootfs"
    agents.get("oci").bootstrap(stage("Bootstrap: oci\nFrom: layout:v1\n"), str(rootfs),
                                context(tmp_path))
    assert (rootfs / "tagged").read_text() == "v1"
    with pytest.raises(BuildError, match="several images match"):
        agents.get("oci").check(stage("Bootstrap: oci\nFrom: layout\n"), context(tmp_path))
    with pytest.raises(BuildError, match="no image tagged 'v3'"):
        agents.get("oci").check(stage("Bootstrap: oci\nFrom: layout:v3\n"), context(tmp_path))
    with pytest.raises(BuildError, match="no image for linux/"):
        agents.get("oci").check(stage("Bootstrap: oci\nFrom: layout:v1\n"),
                                context(tmp_path, arch="s390x"))


def test_oci_blob_tampering_is_detected(tmp_path: Path) -> None:
    layer = tar_bytes([("file", b"good")])
    layout = oci_layout(tmp_path / "layout", [(ARCH, image_config(ARCH), [layer], None)])
    blob = layout / "blobs" / "sha256" / __import__("hashlib").sha256(layer).hexdigest()
    blob.write_bytes(tar_bytes([("file", b"evil")]))
    with pytest.raises(BuildError, match="does not match its digest"):
        agents.get("oci").bootstrap(stage("Bootstrap: oci\nFrom: layout\n"),
                                    str(tmp_path / "rootfs"), context(tmp_path))


def test_oci_layer_escaping_the_rootfs_stays_inside(tmp_path: Path) -> None:
    # `..` above the image's `/` stays at `/`, as in the container (RESOLVE_IN_ROOT).
    evil = tar_bytes([("link", "->../../../"), ("link/escaped", b"x")])
    oci_layout(tmp_path / "layout", [(ARCH, image_config(ARCH), [evil], None)])
    agents.get("oci").bootstrap(stage("Bootstrap: oci\nFrom: layout\n"),
                                str(tmp_path / "rootfs"), context(tmp_path))
    assert not (tmp_path / "escaped").exists()
    assert (tmp_path / "rootfs" / "escaped").read_bytes() == b"x"


def test_oci_archive(tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [(ARCH, image_config(ARCH, **CONFIG),
                                               busybox_layers(tmp_path), "latest")])
    tar_directory(layout, tmp_path / "image.tar")
    shutil.rmtree(layout)
    rootfs = tmp_path / "rootfs"
    result = agents.get("oci-archive").bootstrap(
        stage("Bootstrap: oci-archive\nFrom: image.tar:latest\n"), str(rootfs),
        context(tmp_path))
    check_unpacked(rootfs)
    assert result.image_config is not None


def test_docker_archive(tmp_path: Path) -> None:
    layers = [tar_bytes(tree_entries(busybox_rootfs(tmp_path / "bb"))),
              tar_bytes([("etc/motd", b"docker")])]
    docker_archive(tmp_path / "saved.tar", image_config(ARCH, Cmd=["/bin/cat", "/etc/motd"]),
                   layers, "example/motd:1.0")
    rootfs = tmp_path / "rootfs"
    agent = agents.get("docker-archive")
    agent.check(stage("Bootstrap: docker-archive\nFrom: saved.tar\n"), context(tmp_path))
    agent.bootstrap(stage("Bootstrap: docker-archive\nFrom: saved.tar:example/motd:1.0\n"),
                    str(rootfs), context(tmp_path))
    assert in_rootfs(rootfs, ["/.singularity.d/actions/run"]).stdout == "docker"
    with pytest.raises(BuildError, match="no image tagged"):
        agent.check(stage("Bootstrap: docker-archive\nFrom: saved.tar:other:2\n"),
                    context(tmp_path))


# --- debootstrap (the real run is in test_debootstrap_e2e) --------------------------------------


def test_debootstrap_argv_and_checks(tmp_path: Path) -> None:
    s = stage("Bootstrap: debootstrap\nOSVersion: bookworm\n"
              "MirrorURL: http://deb.debian.org/debian\nInclude: less  vim-tiny\n")
    assert debootstrap.debootstrap_argv(s, "/r", "amd64") == [
        "debootstrap", "--variant=minbase", "--exclude=openssl,udev,debconf-i18n,e2fsprogs",
        "--include=apt,less,vim-tiny", "--arch=amd64", "bookworm", "/r",
        "http://deb.debian.org/debian"]
    debootstrap.check(s, context(tmp_path, mode="root"))
    debootstrap.check(s, context(tmp_path, mode="fakeroot"))
    with pytest.raises(BuildError, match="needs root or --fakeroot"):
        debootstrap.check(s, context(tmp_path, mode="userns"))
    with pytest.raises(BuildError, match="needs the header keys OSVersion, MirrorURL"):
        debootstrap.check(stage("Bootstrap: debootstrap\n"), context(tmp_path))
    with pytest.raises(BuildError, match="cannot build"):
        debootstrap.check(s, context(tmp_path, arch=OTHER_ARCH))


def test_debootstrap_failure_is_reported_with_its_reason(tmp_path: Path) -> None:
    s = stage("Bootstrap: debootstrap\nOSVersion: bookworm\n"
              "MirrorURL: file:///nonexistent/debian\n")
    events: list[object] = []
    ctx = dataclasses.replace(context(tmp_path, mode="fakeroot"), progress=events.append)
    with pytest.raises(BuildError, match="debootstrap failed .*Failed getting release file"):
        debootstrap.bootstrap(s, str(tmp_path / "build" / "rootfs"), ctx)
    assert events  # debootstrap's output is streamed as events
    assert not list((tmp_path / "build" / "rootfs" / "usr" / "lib").glob("*/libfakeroot"))
