"""TLS: a registry that is not on the loopback is spoken to over HTTPS; a plain-HTTP server
there is a TLS failure (one line, exit 1), and `--nohttps`/`APPTAINER_NOHTTPS` switch to HTTP.
The server is a small HTTP server on this machine's first non-loopback address that answers
every request with the registry API's 404, as a registry without the repository does."""

from __future__ import annotations

import http.server
import ipaddress
import pathlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.registry.images import defkit, write_def


class _NoRepository(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer  # the names http.server calls

    def log_message(self, format: str, *args: object) -> None:
        pass


def _outside_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            pytest.skip("no non-loopback IPv4 address")
    if ipaddress.ip_address(address).is_loopback:
        pytest.skip("no non-loopback IPv4 address")
    return address


@pytest.fixture()
def plain_server() -> Iterator[str]:
    address = _outside_address()
    server = http.server.ThreadingHTTPServer((address, 0), _NoRepository)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{address}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_tls_failure_and_nohttps(plain_server: str, tmp_path: pathlib.Path) -> None:
    image = f"{plain_server}/team/app:1"
    deffile = write_def(tmp_path, image)
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"{deffile}:2:1: error: {image}: ")
    assert "TLS" in line or "SSL" in line, line
    for flag, env in ((["--nohttps"], {}), (["--insecure"], {}),
                      ([], {"APPTAINER_NOHTTPS": "1"})):
        done = defkit("build", "-q", "--engine", "native", *flag, str(deffile),
                      cache=tmp_path / "cache", env=env)
        assert done.returncode == 1
        [line] = done.stderr.splitlines()
        assert "TLS" not in line and "SSL" not in line, line
        assert "team/app" in line and ("unknown" in line or "not found" in line), line
    out = tmp_path / "x.sif"
    done = defkit("pull", "--nohttps", f"oras://{image}", "-o", str(out),
                  cache=tmp_path / "cache")
    assert done.returncode == 1 and "TLS" not in done.stderr and not out.exists()
    done = defkit("push", __file__, f"oras://{image}", cache=tmp_path / "cache")
    assert done.returncode == 1
