"""`defkit serve` end to end, over real HTTP and websockets, with real builds."""

from __future__ import annotations

import hashlib
import pathlib
import subprocess
from collections.abc import Callable

import httpx

from defkit.registry.client import OCI_MANIFEST
from defkit.remote.protocol import BuildInfo
from defkit.sif.reader import read_sif
from tests.registry_fixture import RunningRegistry
from tests.remote.conftest import (
    RemoteServer,
    context_archive,
    follow_log,
    needs_builder,
    status,
    submit,
    upload_context,
    work_dirs,
    write_busybox_recipe,
)


def _file_in_sif(sif: pathlib.Path, path: str) -> bytes:
    offset = read_sif(sif).partition_offset
    done = subprocess.run(["unsquashfs", "-o", str(offset), "-cat", str(sif), path],
                          capture_output=True, check=True)
    return done.stdout


def _build(server: RemoteServer, definition: pathlib.Path) -> tuple[BuildInfo, list[str]]:
    project = definition.parent
    checksum = upload_context(server, context_archive(
        [project / "busybox", project / "greeting.txt"]))
    info = BuildInfo.from_json(submit(server, definition, context=checksum))
    lines = [text for _, text in follow_log(server, info.id)]
    return BuildInfo.from_json(status(server, info.id).json()["data"]), lines


@needs_builder
def test_build_with_a_files_context_streams_its_log_and_serves_the_image(
        remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    definition = write_busybox_recipe(tmp_path / "project", sleep=2)
    checksum = upload_context(remote_server, context_archive(
        [definition.parent / "busybox", definition.parent / "greeting.txt"]))
    info = BuildInfo.from_json(submit(remote_server, definition, context=checksum))
    assert not info.is_complete
    frames = follow_log(remote_server, info.id)
    text = "".join(line for _, line in frames)
    assert all(line.endswith("\n") for _, line in frames)  # one frame a line, as printed
    # The log streams: the line before the 2 s sleep arrived well before the one after it.
    when = {line.strip(): at for at, line in frames}
    assert when["building step two"] - when["building step one"] >= 1.5, text

    done = BuildInfo.from_json(status(remote_server, info.id).json()["data"])
    assert done.succeeded, text
    ref = done.library_ref.removeprefix("library://")
    meta = httpx.get(f"{remote_server.url}/v1/images/{ref}", params={"arch": "amd64"},
                     headers=remote_server.headers()).json()["data"]
    assert meta["hash"] == done.image_checksum and meta["size"] == done.image_size
    image = httpx.get(f"{remote_server.url}/v1/imagefile/{ref}", params={"arch": "amd64"},
                      headers=remote_server.headers())
    assert image.status_code == 200
    assert "sha256." + hashlib.sha256(image.content).hexdigest() == done.image_checksum
    sif = tmp_path / "out.sif"
    sif.write_bytes(image.content)
    assert _file_in_sif(sif, "etc/greeting.txt") == b"hello from the context\n"
    assert work_dirs(remote_server) == []
    assert remote_server.token not in remote_server.log() + text


@needs_builder
def test_a_repeated_build_is_a_cache_hit(remote_server: RemoteServer,
                                         busybox_recipe: pathlib.Path) -> None:
    first, first_log = _build(remote_server, busybox_recipe)
    second, second_log = _build(remote_server, busybox_recipe)
    assert first.succeeded and second.succeeded
    assert second.image_checksum == first.image_checksum
    assert not any("from the build cache" in line for line in first_log)
    assert any("from the build cache" in line for line in second_log), "".join(second_log)
    assert not any("building step one" in line for line in second_log)


@needs_builder
def test_with_cache_to_built_images_are_pushed_to_the_registry(
        start_remote_server: Callable[..., RemoteServer], registry: RunningRegistry,
        busybox_recipe: pathlib.Path) -> None:
    repo = f"oras://{registry.host}/defkit/serve-cache"
    server = start_remote_server("--cache-to", repo)
    info, lines = _build(server, busybox_recipe)
    assert info.succeeded
    pushed = [line for line in lines if "cache pushed sha256-" in line]
    assert pushed, "".join(lines)
    tag = pushed[0].split("cache pushed ")[1].split()[0]
    manifest = httpx.get(f"{registry.url}/v2/defkit/serve-cache/manifests/{tag}",
                         headers={"Accept": OCI_MANIFEST})
    assert manifest.status_code == 200


@needs_builder
def test_a_very_long_log_line_is_cut(remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    definition = write_busybox_recipe(tmp_path / "project")
    definition.write_text(definition.read_text().replace(
        "echo building step one",
        "/bin/busybox printf '%0100000d\\n' 0"))
    info, lines = _build(remote_server, definition)
    assert info.succeeded
    long = [line for line in lines if line.startswith("0000")]
    assert len(long) == 1, "".join(line[:200] for line in lines)
    assert long[0].endswith(" [line cut]\n") and len(long[0]) < 17_000
