"""Absolute `%files` sources in remote builds (issue #17): the client's archive stores them by
their absolute path, and `defkit serve` reads them from there (the engine's `files_root`), not
from its own `/`."""

from __future__ import annotations

import pathlib
import shutil

import httpx

from defkit.remote.protocol import BuildInfo
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
from tests.remote.test_client_e2e import _env, defkit
from tests.remote.test_client_e2e import home as home  # the fixture, shared
from tests.remote.test_server import _file_in_sif


def _recipe(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """busybox.def with an absolute `%files` source outside its directory; (def, that file)."""
    definition = write_busybox_recipe(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = (elsewhere / "data.txt").resolve()
    data.write_text("absolute source\n")
    text = definition.read_text().replace(
        "%files\n", f"%files\n    {data} /opt/data.txt\n    {elsewhere.resolve()}/*.txt /glob/\n")
    definition.write_text(text)
    return definition, data


@needs_builder
def test_an_absolute_source_is_read_from_the_uploaded_context(
        remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    definition, data = _recipe(tmp_path)
    project = definition.parent
    checksum = upload_context(remote_server, context_archive(
        [project / "busybox", project / "greeting.txt", data]))
    # The server runs on this host: with the host's file gone, only the context has it.
    shutil.rmtree(data.parent)
    info = BuildInfo.from_json(submit(remote_server, definition, context=checksum))
    text = "".join(line for _, line in follow_log(remote_server, info.id))
    done = BuildInfo.from_json(status(remote_server, info.id).json()["data"])
    assert done.succeeded, text
    ref = done.library_ref.removeprefix("library://")
    image = httpx.get(f"{remote_server.url}/v1/imagefile/{ref}", params={"arch": "amd64"},
                      headers=remote_server.headers())
    sif = tmp_path / "out.sif"
    sif.write_bytes(image.content)
    assert _file_in_sif(sif, "opt/data.txt") == b"absolute source\n"
    assert _file_in_sif(sif, "glob/data.txt") == b"absolute source\n"
    assert _file_in_sif(sif, "etc/greeting.txt") == b"hello from the context\n"
    assert work_dirs(remote_server) == []


@needs_builder
def test_an_absolute_source_missing_from_the_context_is_not_taken_from_the_host(
        remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    definition, data = _recipe(tmp_path)
    project = definition.parent
    # The host has data.txt, the context does not: the build must not find it.
    checksum = upload_context(remote_server, context_archive(
        [project / "busybox", project / "greeting.txt"]))
    info = BuildInfo.from_json(submit(remote_server, definition, context=checksum))
    text = "".join(line for _, line in follow_log(remote_server, info.id))
    assert f"{data} does not exist" in text, text
    assert not BuildInfo.from_json(status(remote_server, info.id).json()["data"]).succeeded


@needs_builder
def test_defkit_build_remote_with_an_absolute_source_equals_a_local_build(
        remote_server: RemoteServer, tmp_path: pathlib.Path, home: dict[str, str]) -> None:
    definition, _ = _recipe(tmp_path)
    env = _env(remote_server.token, **home)
    remote = tmp_path / "remote.sif"
    done = defkit("build", "--remote", remote_server.url, "--no-cache", str(definition), "-o",
                  str(remote), env=env)
    assert done.returncode == 0, done.stderr
    assert _file_in_sif(remote, "opt/data.txt") == b"absolute source\n"
    local = tmp_path / "local.sif"
    built = defkit("build", "--no-cache", str(definition), "-o", str(local), env=env)
    assert built.returncode == 0, built.stderr
    assert remote.read_bytes() == local.read_bytes()
