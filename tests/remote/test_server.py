"""`defkit serve` end to end, over real HTTP and websockets, with real builds."""

from __future__ import annotations

import hashlib
import pathlib
import subprocess

import httpx

from defkit.remote.protocol import BuildInfo
from defkit.sif.reader import read_sif
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
