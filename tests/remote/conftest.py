"""The real `defkit serve` for the remote tests: a subprocess on 127.0.0.1 and a free port.

    def test_x(remote_server):            # a server with two owners' tokens, --workers 2
        httpx.get(f"{remote_server.url}/v1/token-status", headers=remote_server.headers())

    def test_y(start_remote_server):       # a server with other options
        server = start_remote_server("--workers", "1", "--idle-timeout", "3s")

`RemoteServer` has `url`, `token` (owner "alice"), `other_token` (owner "bob"), `store`,
`log_path` (the server's own output), `process`, `headers(token=None)` and `stop(sig)`.
`busybox_recipe` is a project directory with a static busybox and `busybox.def`, a
`Bootstrap: scratch` recipe with a `%files` context and a `%post`, built without network.
Servers are stopped (SIGTERM) at the end of each test and die with the test process.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Optional

import httpx
import pytest

TOKEN = "alice:" + "a" * 8 + "-token-of-alice-0123456789"
OTHER_TOKEN = "bob:" + "b" * 8 + "-token-of-bob-0123456789"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

needs_builder = pytest.mark.skipif(
    not (os.path.exists(BUSYBOX) and shutil.which("mksquashfs") and shutil.which("unshare")),
    reason="needs busybox-static, squashfs-tools and unshare (make deb)",
)

BUSYBOX_DEF = """\
Bootstrap: scratch

%files
    busybox /bin/busybox
    busybox /bin/sh
    greeting.txt /etc/greeting.txt

%post
    echo building step one
    /bin/busybox sleep {sleep}
    echo building step two

%runscript
    cat /etc/greeting.txt
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class RemoteServer:
    url: str
    token: str
    other_token: str
    store: pathlib.Path
    log_path: pathlib.Path
    process: subprocess.Popen[bytes]
    args: tuple[str, ...] = field(default=())

    def headers(self, token: Optional[str] = None) -> dict[str, str]:
        return {"Authorization": f"BEARER {self.token if token is None else token}"}

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _secret(line: str) -> str:
    return line.partition(":")[2]


def start(base: pathlib.Path, *args: str, tokens: bool = True,
          startup_timeout: float = 60) -> RemoteServer:
    base.mkdir(parents=True, exist_ok=True)
    store = base / "store"
    port = _free_port()
    argv = [sys.executable, "-m", "defkit", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--store", str(store), "--log-level", "warning"]
    if tokens:
        token_file = base / "tokens"
        token_file.write_text(f"# test tokens\n{TOKEN}\n{OTHER_TOKEN}\n", encoding="utf-8")
        argv += ["--token-file", str(token_file)]
    argv += list(args)
    log_path = base / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    server = RemoteServer(f"http://127.0.0.1:{port}", _secret(TOKEN), _secret(OTHER_TOKEN),
                          store, log_path, process, tuple(args))
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"defkit serve exited ({process.returncode}):\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/version", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise RuntimeError(f"defkit serve did not answer GET /version:\n{server.log()}")
        time.sleep(0.1)


@pytest.fixture
def start_remote_server(tmp_path: pathlib.Path) -> Iterator[Callable[..., RemoteServer]]:
    """`start_remote_server(*options, tokens=True)`: a new server with these extra options."""
    started: list[RemoteServer] = []

    def factory(*args: str, tokens: bool = True) -> RemoteServer:
        server = start(tmp_path / f"server-{len(started)}", *args, tokens=tokens)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def remote_server(start_remote_server: Callable[..., RemoteServer]) -> RemoteServer:
    return start_remote_server()


def write_busybox_recipe(directory: pathlib.Path, *, sleep: float = 0,
                         greeting: str = "hello from the context\n") -> pathlib.Path:
    """`directory/busybox.def` with its context (busybox, greeting.txt); the def's path."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUSYBOX, directory / "busybox")
    os.chmod(directory / "busybox", 0o755)
    (directory / "greeting.txt").write_text(greeting, encoding="utf-8")
    definition = directory / "busybox.def"
    definition.write_text(BUSYBOX_DEF.format(sleep=sleep), encoding="utf-8")
    return definition


@pytest.fixture
def busybox_recipe(tmp_path: pathlib.Path) -> pathlib.Path:
    """The path of `busybox.def` in a project directory with its `%files` sources."""
    return write_busybox_recipe(tmp_path / "project")


# --- a small protocol client for the server's tests (the real client is `defkit build --remote`)


def context_archive(paths: list[pathlib.Path]) -> bytes:
    """A gzip'd tar of `paths` in SingularityCE's layout: absolute paths without the `/`."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in paths:
            archive.add(str(path), arcname=str(path.resolve()).lstrip("/"))
    return buffer.getvalue()


def upload_context(server: RemoteServer, data: bytes, token: Optional[str] = None) -> str:
    """Announce and upload a context; its checksum (`sha256.<hex>`)."""
    import hashlib

    from defkit.remote.protocol import ContextUpload, format_checksum

    checksum = format_checksum(hashlib.sha256(data).hexdigest())
    announced = httpx.post(f"{server.url}/v1/build-context", headers=server.headers(token),
                           json=ContextUpload(len(data), checksum).to_json(), timeout=30)
    assert announced.status_code in (200, 201), announced.text
    location = announced.headers.get("location")
    if location:
        put = httpx.put(location, content=data, timeout=60,
                        headers={"Content-Type": "application/octet-stream"})
        assert put.status_code == 200, put.text
    return checksum


def submit(server: RemoteServer, definition: pathlib.Path, *, context: Optional[str] = None,
           working_dir: Optional[pathlib.Path] = None, token: Optional[str] = None,
           library_ref: str = "") -> dict[str, object]:
    """POST v1/build; the BuildInfo JSON."""
    from defkit.remote.protocol import BuildRequest

    request = BuildRequest(definition=definition.read_bytes(), library_ref=library_ref,
                           context_checksum=context or "",
                           working_dir=str(working_dir or definition.parent))
    response = httpx.post(f"{server.url}/v1/build", headers=server.headers(token),
                          json=request.to_json(), timeout=30)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def follow_log(server: RemoteServer, build_id: str, token: Optional[str] = None
               ) -> list[tuple[float, str]]:
    """The build's log frames with the time each arrived; asserts the normal close (1000)."""
    import asyncio

    import websockets

    async def read() -> list[tuple[float, str]]:
        frames: list[tuple[float, str]] = []
        async with websockets.connect(f"{server.ws_url}/v1/build-ws/{build_id}",
                                      additional_headers=server.headers(token),
                                      max_size=None) as socket_:
            try:
                async for message in socket_:
                    assert isinstance(message, str)
                    frames.append((time.monotonic(), message))
            except websockets.ConnectionClosedOK:
                pass
            assert socket_.close_code == 1000
        return frames

    return asyncio.run(read())


def status(server: RemoteServer, build_id: str, token: Optional[str] = None) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/build/{build_id}", headers=server.headers(token),
                     timeout=30)


def work_dirs(server: RemoteServer) -> list[str]:
    work = server.store / "work"
    return sorted(os.listdir(work)) if work.is_dir() else []


def processes_mentioning(text: str) -> list[int]:
    """The pids whose command line contains `text` (a build's id is in its child's argv)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def wait_for(predicate: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)
