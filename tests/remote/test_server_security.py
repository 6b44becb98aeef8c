"""`defkit serve`'s tokens, owners, cancel, time limits and hostile input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import pathlib
import signal
import tarfile
import threading
import time
from collections.abc import Callable

import httpx
import pytest
import websockets

from defkit.remote.protocol import BuildInfo
from tests.remote.conftest import (
    RemoteServer,
    context_archive,
    follow_log,
    needs_builder,
    processes_mentioning,
    status,
    submit,
    upload_context,
    wait_for,
    work_dirs,
    write_busybox_recipe,
)

Starter = Callable[..., RemoteServer]


def _start_build(server: RemoteServer, tmp_path: pathlib.Path, sleep: float) -> BuildInfo:
    definition = write_busybox_recipe(tmp_path / "project", sleep=sleep)
    checksum = upload_context(server, context_archive(
        [definition.parent / "busybox", definition.parent / "greeting.txt"]))
    return BuildInfo.from_json(submit(server, definition, context=checksum))


def _read_log_until(server: RemoteServer, build_id: str, marker: str) -> list[str]:
    """The log up to and including the first line containing `marker`, then disconnect."""

    async def read() -> list[str]:
        lines = []
        async with websockets.connect(f"{server.ws_url}/v1/build-ws/{build_id}",
                                      additional_headers=server.headers()) as socket_:
            async for message in socket_:
                lines.append(str(message))
                if marker in str(message):
                    return lines
        raise AssertionError(f"the log ended without {marker!r}: {''.join(lines)}")

    return asyncio.run(read())


# --- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789abcdef", "Basic abc",
                                    "Bearer"])
def test_requests_without_a_valid_token_are_refused(remote_server: RemoteServer,
                                                    header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    url = remote_server.url
    for method, path, body in [
        ("GET", "/v1/token-status", None),
        ("POST", "/v1/build-context", {"size": 1, "checksum": "sha256." + "0" * 64}),
        ("POST", "/v1/build", {"definitionRaw": "Qm9vdHN0cmFwOiBzY3JhdGNoCg=="}),
        ("GET", "/v1/build/0123456789abcdef01234567", None),
        ("PUT", "/v1/build/0123456789abcdef01234567/_cancel", None),
        ("DELETE", "/v1/build-context/sha256." + "0" * 64, None),
        ("GET", "/v1/images/a/b/c:latest", None),
        ("GET", "/v1/imagefile/a/b/c:latest", None),
    ]:
        response = httpx.request(method, url + path, headers=headers, json=body)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == 401
    assert httpx.get(url + "/version").status_code == 200  # health needs no token

    async def connect() -> None:
        async with websockets.connect(f"{remote_server.ws_url}/v1/build-ws/x",
                                      additional_headers=headers):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(connect())
    assert refused.value.response.status_code == 401
    log = remote_server.log()
    assert remote_server.token not in log and "wrong-token" not in log


def test_the_no_auth_option_is_for_loopback_only(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "defkit", "serve", "--host", "0.0.0.0",
                           "--no-auth", "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "loopback" in done.stderr


def test_without_auth_on_loopback_no_token_is_needed(start_remote_server: Starter) -> None:
    server = start_remote_server("--no-auth", tokens=False)
    assert httpx.get(f"{server.url}/v1/token-status").status_code == 200


@pytest.mark.parametrize("content, message", [
    (None, "needs --token-file"),
    ("# only a comment\n", "needs --token-file"),
    ("alice:short\n", "tokens:1:1: error: a token must have 16 characters"),
    ("\n:" + "x" * 20 + "\n", "tokens:2:1: error: an empty token or name"),
])
def test_bad_token_files_are_one_line_errors(tmp_path: pathlib.Path, content: str | None,
                                             message: str) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "defkit", "serve", "--store", str(tmp_path / "s")]
    if content is not None:
        (tmp_path / "tokens").write_text(content)
        argv += ["--token-file", str(tmp_path / "tokens")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "short" not in done.stderr
    assert done.stderr.count("error:") == 1


@needs_builder
def test_one_token_cannot_see_another_tokens_build(remote_server: RemoteServer,
                                                   tmp_path: pathlib.Path) -> None:
    info = _start_build(remote_server, tmp_path, sleep=0)
    follow_log(remote_server, info.id)
    done = BuildInfo.from_json(status(remote_server, info.id).json()["data"])
    assert done.succeeded
    other = remote_server.other_token
    url = remote_server.url
    headers = remote_server.headers(other)
    ref = done.library_ref.removeprefix("library://")
    for method, path in [("GET", f"/v1/build/{info.id}"),
                         ("PUT", f"/v1/build/{info.id}/_cancel"),
                         ("GET", f"/v1/images/{ref}"), ("GET", f"/v1/imagefile/{ref}")]:
        response = httpx.request(method, url + path, headers=headers)
        assert response.status_code == 404, (path, response.text)
    with pytest.raises(websockets.InvalidStatus) as refused:
        follow_log(remote_server, info.id, token=other)
    assert refused.value.response.status_code == 404
    # The context: bob must upload his own, and cannot build with or delete alice's.
    data = context_archive([tmp_path / "project" / "greeting.txt"])
    checksum = upload_context(remote_server, data)
    announced = httpx.post(f"{url}/v1/build-context", headers=headers,
                           json={"size": len(data), "checksum": checksum})
    assert announced.headers.get("location")
    assert httpx.delete(f"{url}/v1/build-context/{checksum}", headers=headers).status_code == 404
    refused_build = httpx.post(f"{url}/v1/build", headers=headers, json={
        "definitionRaw": "Qm9vdHN0cmFwOiBzY3JhdGNoCg==", "contextChecksum": checksum})
    assert refused_build.status_code == 404
    # The owner still sees everything.
    assert httpx.get(f"{url}/v1/imagefile/{ref}",
                     headers=remote_server.headers()).status_code == 200
    assert httpx.delete(f"{url}/v1/build-context/{checksum}",
                        headers=remote_server.headers()).status_code == 200


def test_an_upload_location_is_used_once_and_checked(remote_server: RemoteServer) -> None:
    import hashlib

    data = b"not really a tar, but checked only when a build unpacks it"
    checksum = "sha256." + hashlib.sha256(data).hexdigest()
    url, headers = remote_server.url, remote_server.headers()

    def location() -> str:
        response = httpx.post(f"{url}/v1/build-context", headers=headers,
                              json={"size": len(data), "checksum": checksum})
        assert response.status_code == 201
        return response.headers["location"]

    assert httpx.put(location(), content=data + b"more").status_code in (400, 413)
    assert httpx.put(location(), content=data[:-1] + b"X").status_code == 400  # wrong sha256
    first = location()
    assert httpx.put(first, content=data).status_code == 200
    assert httpx.put(first, content=data).status_code == 404  # once only
    again = httpx.post(f"{url}/v1/build-context", headers=headers,
                       json={"size": len(data), "checksum": checksum})
    assert again.status_code == 200 and "location" not in again.headers  # already there
    assert httpx.put(f"{url}/v1/build-context-upload/guessed", content=data).status_code == 404


def test_a_context_larger_than_the_limit_is_refused(start_remote_server: Starter) -> None:
    server = start_remote_server("--max-context-size", "1M")
    response = httpx.post(f"{server.url}/v1/build-context", headers=server.headers(),
                          json={"size": 2 * 1024 * 1024, "checksum": "sha256." + "a" * 64})
    assert response.status_code == 413
    assert "larger than this server accepts" in response.json()["error"]["message"]


# --- cancel, time limit, idle clients, shutdown -----------------------------------------------


@needs_builder
def test_cancel_mid_build_kills_it_and_removes_its_work_directory(
        remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    info = _start_build(remote_server, tmp_path, sleep=60)
    _read_log_until(remote_server, info.id, "building step one")
    assert processes_mentioning(info.id) and work_dirs(remote_server) == [info.id]
    started = time.monotonic()
    cancelled = httpx.put(f"{remote_server.url}/v1/build/{info.id}/_cancel",
                          headers=remote_server.headers())
    assert cancelled.status_code == 200
    lines = [text for _, text in follow_log(remote_server, info.id)]
    assert time.monotonic() - started < 30
    assert "defkit serve: build cancelled\n" in lines
    done = BuildInfo.from_json(status(remote_server, info.id).json()["data"])
    assert done.is_complete and not done.succeeded
    assert work_dirs(remote_server) == []
    wait_for(lambda: not processes_mentioning(info.id), 10, "the build's processes to go")


@needs_builder
def test_a_build_nobody_follows_is_cancelled_after_the_idle_timeout(
        start_remote_server: Starter, tmp_path: pathlib.Path) -> None:
    server = start_remote_server("--idle-timeout", "2s")
    info = _start_build(server, tmp_path, sleep=120)
    _read_log_until(server, info.id, "building step one")  # then the client goes away
    wait_for(lambda: work_dirs(server) == [], 60, "the idle build to be removed")
    wait_for(lambda: not processes_mentioning(info.id), 10, "the build's processes to go")
    lines = [text for _, text in follow_log(server, info.id)]
    assert any("nobody has followed this build" in line for line in lines)
    assert not BuildInfo.from_json(status(server, info.id).json()["data"]).succeeded


@needs_builder
def test_a_build_past_the_time_limit_is_stopped(start_remote_server: Starter,
                                                tmp_path: pathlib.Path) -> None:
    server = start_remote_server("--time-limit", "4s")
    info = _start_build(server, tmp_path, sleep=120)
    lines = [text for _, text in follow_log(server, info.id)]
    assert any("reached the time limit (4 s)" in line for line in lines), "".join(lines)
    assert not BuildInfo.from_json(status(server, info.id).json()["data"]).succeeded
    assert work_dirs(server) == []
    wait_for(lambda: not processes_mentioning(info.id), 10, "the build's processes to go")


@needs_builder
def test_server_shutdown_kills_running_builds_and_leaves_no_work_directory(
        remote_server: RemoteServer, tmp_path: pathlib.Path) -> None:
    info = _start_build(remote_server, tmp_path, sleep=120)
    # A client keeps following while the server stops: its log must end, not hang.
    ended = threading.Event()

    def follow() -> None:
        with contextlib.suppress(Exception):
            follow_log(remote_server, info.id)
        ended.set()

    follower = threading.Thread(target=follow, daemon=True)
    _read_log_until(remote_server, info.id, "building step one")
    follower.start()
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert remote_server.stop(signal.SIGTERM, timeout=60) in (0, -signal.SIGTERM)
    assert ended.wait(30)
    assert work_dirs(remote_server) == []
    wait_for(lambda: not processes_mentioning(info.id), 10, "the build's processes to go")


# --- hostile contexts and definitions ---------------------------------------------------------


def _tar(entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in entries:
            content = (data or {}).get(entry.name)
            if content is not None:
                entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def _hostile_cases(outside: pathlib.Path) -> dict[str, tuple[bytes, str]]:
    payload = {"pwned": b"x"}
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as archive:
        big = _member("zeros")
        big.size = 3 * 1024 * 1024
        archive.addfile(big, io.BytesIO(bytes(big.size)))
    return {
        "absolute": (_tar([_member(f"{outside}/pwned")], {f"{outside}/pwned": b"x"}),
                     "absolute path"),
        "dotdot": (_tar([_member("../../../../../../pwned")],
                        {"../../../../../../pwned": b"x"}), "climbs out"),
        "symlink-escape": (_tar([_member("evil", tarfile.SYMTYPE, str(outside)),
                                 _member("evil/pwned")], {"evil/pwned": b"x"}),
                           "points to the absolute path"),
        "symlink-dotdot": (_tar([_member("a/up", tarfile.SYMTYPE, "../../../../.."),
                                 _member("a/up/pwned")], {"a/up/pwned": b"x"}),
                           "points out of the context"),
        "symlink-chain": (_tar([_member("d/e/", tarfile.DIRTYPE),
                                _member("d/e/up", tarfile.SYMTYPE, "../.."),
                                _member("y", tarfile.SYMTYPE, "d/e/up/..")]),
                          "leads out of the context"),
        "hardlink-absolute": (_tar([_member("hl", tarfile.LNKTYPE, "/etc/passwd")]),
                              "hard link"),
        "hardlink-dotdot": (_tar([_member("hl", tarfile.LNKTYPE, "../../../etc/passwd")]),
                            "points out of the context"),
        "device": (_tar([_member("dev", tarfile.CHRTYPE)]), "device node"),
        "fifo": (_tar([_member("fifo", tarfile.FIFOTYPE)]), "special file"),
        "gzip-bomb": (bomb.getvalue(), "more than 1048576 bytes unpacked"),
        "not-a-tar": (b"\x1f\x8b garbage" + payload["pwned"], "not a readable"),
    }


@needs_builder
def test_hostile_contexts_are_refused_and_nothing_is_written_outside(
        start_remote_server: Starter, tmp_path: pathlib.Path) -> None:
    server = start_remote_server("--max-context-size", "1M")
    outside = tmp_path / "outside"
    outside.mkdir()
    definition = tmp_path / "scratch.def"
    definition.write_text("Bootstrap: scratch\n\n%runscript\n    true\n")
    before = sorted(p.name for p in server.store.parent.iterdir())
    for name, (data, message) in _hostile_cases(outside).items():
        checksum = upload_context(server, data)
        info = BuildInfo.from_json(submit(server, definition, context=checksum,
                                          working_dir=tmp_path))
        text = "".join(line for _, line in follow_log(server, info.id))
        assert message in text, (name, text)
        assert not BuildInfo.from_json(status(server, info.id).json()["data"]).succeeded
        assert list(outside.iterdir()) == [], name
    assert not (server.store / "pwned").exists()
    assert not pathlib.Path("/pwned").exists()
    assert sorted(p.name for p in server.store.parent.iterdir()) == before
    assert work_dirs(server) == []


@needs_builder
@pytest.mark.parametrize("files, message", [
    # Absolute sources are read under the context (files_root), never from the host's `/`.
    ("/etc/passwd /passwd", "/etc/passwd does not exist (in "),
    ("/../../../etc/passwd /passwd", "outside the uploaded build context"),
    ("../" * 40 + "etc/passwd /passwd", "outside the uploaded build context"),
    ("../" * 40 + "*/passwd /p", "outside the uploaded build context"),
])
def test_files_sources_outside_the_context_are_refused(
        remote_server: RemoteServer, tmp_path: pathlib.Path, files: str, message: str) -> None:
    project = tmp_path / "project"
    write_busybox_recipe(project)
    definition = project / "escape.def"
    definition.write_text(f"Bootstrap: scratch\n\n%files\n    {files}\n")
    checksum = upload_context(remote_server, context_archive([project / "greeting.txt"]))
    info = BuildInfo.from_json(submit(remote_server, definition, context=checksum))
    text = "".join(line for _, line in follow_log(remote_server, info.id))
    assert message in text, text
    assert not BuildInfo.from_json(status(remote_server, info.id).json()["data"]).succeeded


@needs_builder
def test_setup_and_host_bases_are_refused(remote_server: RemoteServer,
                                          tmp_path: pathlib.Path) -> None:
    for text, message in [
        ("Bootstrap: scratch\n\n%setup\n    touch /tmp/pwned-by-setup\n", "%setup runs on"),
        ("Bootstrap: localimage\nFrom: /etc\n", "neither in the uploaded build context"),
    ]:
        definition = tmp_path / "host.def"
        definition.write_text(text)
        info = BuildInfo.from_json(submit(remote_server, definition))
        log = "".join(line for _, line in follow_log(remote_server, info.id))
        assert message in log, log
    assert not pathlib.Path("/tmp/pwned-by-setup").exists()


@needs_builder
def test_a_queued_build_waits_for_a_worker_and_can_be_cancelled(
        start_remote_server: Starter, tmp_path: pathlib.Path) -> None:
    server = start_remote_server("--workers", "1")
    running = _start_build(server, tmp_path / "a", sleep=60)
    _read_log_until(server, running.id, "building step one")
    queued = _start_build(server, tmp_path / "b", sleep=0)
    time.sleep(1)
    assert not BuildInfo.from_json(status(server, queued.id).json()["data"]).is_complete
    assert sorted(work_dirs(server)) == sorted([running.id, queued.id])
    httpx.put(f"{server.url}/v1/build/{queued.id}/_cancel", headers=server.headers())
    lines = [text for _, text in follow_log(server, queued.id)]
    assert "defkit serve: build cancelled\n" in lines
    assert not any("started" in line for line in lines)
    assert work_dirs(server) == [running.id]
    httpx.put(f"{server.url}/v1/build/{running.id}/_cancel", headers=server.headers())
    follow_log(server, running.id)
    assert work_dirs(server) == []


def test_work_left_by_a_killed_server_is_removed_at_start(start_remote_server: Starter) -> None:
    first = start_remote_server()
    leftover = first.store / "work" / "0123456789abcdef01234567"
    (leftover / "context").mkdir(parents=True)
    (leftover / "context" / "file").write_text("x")
    first.stop(signal.SIGKILL)
    args = ("--store", str(first.store))  # a later --store overrides the factory's
    start_remote_server(*args)
    assert list((first.store / "work").iterdir()) == []
