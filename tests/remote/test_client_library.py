"""The Library API download (`defkit.remote.library`), the log's line splitting and the request
document: small real HTTP servers on 127.0.0.1 record what the client sends."""

from __future__ import annotations

import hashlib
import http.server
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from defkit.engine.context import Event, OutputLine
from defkit.errors import UsageError
from defkit.remote.library import download, library_url, parse_library_ref
from defkit.remote.protocol import BuildRequest
from defkit.remote.transport import RemoteError, Server

IMAGE = b"SIF image bytes " * 1000
CHECKSUM = "sha256." + hashlib.sha256(IMAGE).hexdigest()


class _Recorder(http.server.ThreadingHTTPServer):
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    seen: list[tuple[str, str]]  # (path, Authorization)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        status, headers, body = self.server.routes.get(self.path.partition("?")[0],
                                                       (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def servers() -> Iterator[tuple[_Recorder, _Recorder]]:
    started = []
    for _ in range(2):
        server = _Recorder(("127.0.0.1", 0), _Handler)
        server.routes, server.seen = {}, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield started[0], started[1]
    for server in started:
        server.shutdown()
        server.server_close()


def _url(server: _Recorder) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_library_references() -> None:
    assert str(parse_library_ref("library://alpine")) == "library://library/default/alpine:latest"
    ref = parse_library_ref("library://host.example.org:8443/ent/col/img:1.0")
    assert (ref.host, ref.name) == ("host.example.org:8443", "ent/col/img:1.0")
    assert parse_library_ref("ent/col/img").name == "ent/col/img:latest"
    assert parse_library_ref("library:///ent/col/img:2").host == ""
    assert library_url(ref, "") == "https://host.example.org:8443"
    assert library_url(ref, "http://host.example.org:8443/") == "http://host.example.org:8443"
    assert library_url(parse_library_ref("e/c/i"), "") == "https://library.sylabs.io"
    for bad in ("e/c/i:a:b", "a/b/c/d/e", "e/c/I N"):
        with pytest.raises(UsageError):
            parse_library_ref(bad)


def test_a_redirect_to_another_host_does_not_get_the_token(
        servers: tuple[_Recorder, _Recorder], tmp_path: pathlib.Path) -> None:
    library, storage = servers
    library.routes["/v1/imagefile/e/c/i:t"] = (303, {"Location": f"{_url(storage)}/blob?sig=1"},
                                               b"")
    storage.routes["/blob"] = (200, {}, IMAGE)
    out = tmp_path / "image.sif"
    with Server(_url(library), "the-token", what="library") as server:
        assert download(server, parse_library_ref("e/c/i:t"), "amd64", str(out),
                        expected=CHECKSUM) == CHECKSUM
    assert out.read_bytes() == IMAGE
    assert library.seen == [("/v1/imagefile/e/c/i:t?arch=amd64", "Bearer the-token")]
    assert storage.seen == [("/blob?sig=1", "")]


def test_a_redirect_to_the_same_host_keeps_the_token(servers: tuple[_Recorder, _Recorder],
                                                     tmp_path: pathlib.Path) -> None:
    library, _ = servers
    library.routes["/v1/imagefile/e/c/i:t"] = (303, {"Location": "/files/i"}, b"")
    library.routes["/files/i"] = (200, {}, IMAGE)
    library.routes["/v1/images/e/c/i:t"] = (200, {"Content-Type": "application/json"},
                                            json.dumps({"data": {
                                                "hash": CHECKSUM, "size": len(IMAGE),
                                                "entityName": "e", "collectionName": "c",
                                                "containerName": "i", "tags": ["t"]}}).encode())
    out = tmp_path / "image.sif"
    with Server(_url(library), "the-token", what="library") as server:
        # No expected checksum: the image's metadata gives it.
        assert download(server, parse_library_ref("e/c/i:t"), "", str(out)) == CHECKSUM
    assert [auth for _, auth in library.seen] == ["Bearer the-token"] * 3


def test_a_wrong_checksum_leaves_no_file(servers: tuple[_Recorder, _Recorder],
                                         tmp_path: pathlib.Path) -> None:
    library, _ = servers
    library.routes["/v1/imagefile/e/c/i:t"] = (200, {}, IMAGE + b"tampered")
    out = tmp_path / "image.sif"
    with Server(_url(library), "the-token") as server, \
            pytest.raises(RemoteError, match="sha256 is .* not the expected"):
        download(server, parse_library_ref("e/c/i:t"), "amd64", str(out), expected=CHECKSUM)
    assert not out.exists()


def test_errors_name_the_host_and_never_the_token(servers: tuple[_Recorder, _Recorder],
                                                  tmp_path: pathlib.Path) -> None:
    library, _ = servers
    body = json.dumps({"error": {"code": 401, "message": "bad token the-token"}}).encode()
    library.routes["/v1/imagefile/e/c/i:t"] = (401, {"Content-Type": "application/json"}, body)
    with Server(_url(library), "the-token", what="library") as server, \
            pytest.raises(RemoteError) as caught:
        download(server, parse_library_ref("e/c/i:t"), "", str(tmp_path / "x"),
                 expected=CHECKSUM)
    assert "refused the token" in caught.value.message
    assert "the-token" not in caught.value.message
    library.routes.clear()
    with Server(_url(library), "", what="library") as server, \
            pytest.raises(RemoteError, match="no such image"):
        download(server, parse_library_ref("e/c/i:t"), "", str(tmp_path / "x"),
                 expected=CHECKSUM)


def test_log_frames_become_lines() -> None:
    from defkit.remote_build import LogWriter

    events: list[Event] = []
    log = LogWriter(events.append)
    for frame in ("one\ntw", "o\r\n", "", "\x1b]0;title\x07three"):
        log(frame)
    log.flush()
    shown = ["one", "two", "\\x1b]0;title\\x07three"]
    assert [e.text for e in events if isinstance(e, OutputLine)] == shown
    assert list(log.tail) == shown


def test_the_build_request_carries_the_epoch_as_an_extension() -> None:
    request = BuildRequest(definition=b"Bootstrap: scratch\n", arch="amd64",
                           context_checksum="sha256." + "0" * 64, working_dir="/p",
                           source_date_epoch=0)
    document = request.to_json()
    assert document["sourceDateEpoch"] == 0 and document["workingDir"] == "/p"
    assert BuildRequest.from_json(document) == request
    assert "sourceDateEpoch" not in BuildRequest(definition=b"x").to_json()
