"""Real registries for the tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.

`registry` is an open instance, `auth_registry` one with htpasswd basic auth (bcrypt, written
by `htpasswd -B`). Each runs with its own config and storage in a temporary directory, on a
free port, for the session (one per xdist worker); it is stopped at the end, and it dies with
the test process (PR_SET_PDEATHSIG) should that be killed. `request_log()` parses the
registry's access log so tests can count the requests a client made.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import hashlib
import json
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx
import pytest

from defkit.registry.auth import Credentials
from defkit.registry.client import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
)
from defkit.registry.reference import ImageRef, parse_reference
from defkit.runner import run

REGISTRY_BINARY = "/usr/bin/docker-registry"
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    status: int


@dataclass
class RunningRegistry:
    host: str  # "127.0.0.1:PORT"
    root: pathlib.Path  # its storage directory (filesystem driver)
    log_path: pathlib.Path
    process: subprocess.Popen[bytes]
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    token_server: Any = None  # tests/registry/token_server.TokenServer for `token_registry`

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, text: str) -> ImageRef:
        return parse_reference(f"{self.host}/{text}")

    def credentials(self) -> Optional[Credentials]:
        if self.username is None or self.password is None:
            return None
        return Credentials(self.username, self.password, "test")

    def client(self, **options: Any) -> RegistryClient:
        options.setdefault("credentials", self.credentials() or (lambda host: None))
        return RegistryClient(**options)

    def request_log(self) -> list[Request]:
        """Every request the registry has logged so far.

        The registry writes a request's log line after answering it; a marker request, waited
        for in the log, makes sure every earlier answer has been logged."""
        marker = uuid.uuid4().hex
        httpx.get(f"{self.url}/v2/?defkit-log-mark={marker}", timeout=10)
        deadline = time.monotonic() + 10
        while marker not in self.log_path.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise AssertionError("the registry did not log the marker request")
            time.sleep(0.01)
        requests = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = _ACCESS.search(line)
            if match and "defkit-log-mark=" not in match["uri"]:
                requests.append(Request(match["method"], match["uri"].split("?")[0],
                                        int(match["status"])))
        return requests

    def blob_data_path(self, repository: str, digest: str) -> pathlib.Path:
        """Where the filesystem driver keeps a blob's bytes (to corrupt it on purpose)."""
        algorithm, _, hex_ = digest.partition(":")
        return (self.root / "docker/registry/v2/blobs" / algorithm / hex_[:2] / hex_ / "data")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the registry gets SIGTERM if pytest dies without stopping it.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start_registry(directory: pathlib.Path, *, extra_config: str = "",
                   username: Optional[str] = None,
                   password: Optional[str] = None) -> RunningRegistry:
    if not pathlib.Path(REGISTRY_BINARY).exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    log_path = directory / "registry.log"
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        config = directory / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: info, formatter: text, accesslog: {disabled: false}}\n"
            f"storage:\n  filesystem: {{rootdirectory: {storage}}}\n"
            "  delete: {enabled: true}\n  cache: {blobdescriptor: ''}\n"
            f"http: {{addr: 127.0.0.1:{port}, secret: defkit-test}}\n" + extra_config
        )
        log = log_path.open("ab")
        process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent)
        log.close()
        started = RunningRegistry(f"127.0.0.1:{port}", storage, log_path, process,
                                  username, password)
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{started.url}/v2/", timeout=2).status_code in (200, 401):
                    return started
            except httpx.TransportError:
                time.sleep(0.05)
        stop_registry(started)
    raise RuntimeError(f"docker-registry did not start:\n{log_path.read_text()[-2000:]}")


def stop_registry(running: RunningRegistry) -> None:
    if running.process.poll() is None:
        running.process.terminate()
        try:
            running.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


@contextlib.contextmanager
def serving(directory: pathlib.Path, **options: Any) -> Iterator[RunningRegistry]:
    """A registry (see start_registry) that is stopped when the block ends, however it ends."""
    running = start_registry(directory, **options)
    try:
        yield running
    finally:
        stop_registry(running)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with serving(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd is not installed (apt-get install apache2-utils)")
    directory = tmp_path_factory.mktemp("auth-registry")
    username, password = "defkit", f"pw-{uuid.uuid4().hex}"
    entry = run(["htpasswd", "-Bbn", username, password], check=True).stdout
    (directory / "htpasswd").write_bytes(entry)
    htpasswd = f"auth:\n  htpasswd: {{realm: defkit-test, path: {directory / 'htpasswd'}}}\n"
    with serving(directory, extra_config=htpasswd, username=username,
                 password=password) as running:
        yield running


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with `auth: token`: every request needs a Bearer token from a token
    service (tests/registry/token_server.py) that takes the user's password, or gives
    anonymous callers pull access to `public/*`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    from tests.registry.token_server import TokenServer

    directory = tmp_path_factory.mktemp("token-registry")
    username, password = "defkit", f"pw-{uuid.uuid4().hex}"
    tokens = TokenServer(directory, username, password)
    try:
        with serving(directory, extra_config=tokens.registry_config(), username=username,
                     password=password) as running:
            running.token_server = tokens
            yield running
    finally:
        tokens.stop()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _compress(data: bytes, compression: str, scratch: pathlib.Path) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        plain, packed = scratch / "layer.tar", scratch / "layer.tar.zst"
        plain.write_bytes(data)
        run(["zstd", "-q", "-f", "-o", str(packed), str(plain)], check=True)
        return packed.read_bytes()
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def push_bytes(client: RegistryClient, ref: ImageRef, data: bytes, scratch: pathlib.Path) -> str:
    digest = _sha256(data)
    path = scratch / digest.replace(":", "-")
    path.write_bytes(data)
    client.push_blob(ref, str(path), digest, len(data))
    return digest


def push_test_image(
    registry: RunningRegistry,
    repo: str,
    tag: str,
    layers: Sequence[bytes],
    config: dict[str, Any],
    *,
    compression: str = "gzip",
    platforms: Optional[Sequence[str]] = None,
    docker: bool = False,
) -> ImageRef:
    """Push an image (a multi-arch index when `platforms` lists "os/arch[/variant]" entries,
    e.g. "linux/arm/v7") with the client under test; returns its reference pinned to the
    manifest's or index's digest.

    Layers are tar archives; `config` gets `rootfs.diff_ids` (and `os`/`architecture`/`variant`
    per platform, in the config and in the index entry) filled in. `docker=True` uses Docker's media types instead of OCI's."""
    import tempfile

    ref = registry.ref(f"{repo}:{tag}")
    suffix = {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[compression]
    if docker:
        layer_type = ("application/vnd.docker.image.rootfs.diff.tar.gzip" if compression == "gzip"
                      else "application/vnd.docker.image.rootfs.diff.tar")
        config_type = "application/vnd.docker.container.image.v1+json"
        manifest_type, index_type = DOCKER_MANIFEST, DOCKER_LIST
    else:
        layer_type = f"application/vnd.oci.image.layer.v1.tar{suffix}"
        config_type = "application/vnd.oci.image.config.v1+json"
        manifest_type, index_type = OCI_MANIFEST, OCI_INDEX
    with registry.client() as client, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = pathlib.Path(scratch_dir)
        descriptors = []
        for layer in layers:
            packed = _compress(layer, compression, scratch)
            descriptors.append({"mediaType": layer_type, "digest": push_bytes(client, ref, packed, scratch),
                                "size": len(packed)})
        diff_ids = [_sha256(layer) for layer in layers]

        def manifest_for(image_config: dict[str, Any]) -> bytes:
            config_data = json.dumps({**image_config, "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                                     sort_keys=True).encode()
            return json.dumps({
                "schemaVersion": 2,
                "mediaType": manifest_type,
                "config": {"mediaType": config_type, "digest": push_bytes(client, ref, config_data, scratch),
                           "size": len(config_data)},
                "layers": descriptors,
            }).encode()

        if not platforms:
            return ref.with_digest(client.put_manifest(ref, manifest_type, manifest_for(config)))
        entries = []
        for platform in platforms:
            os_name, architecture, *variant = platform.split("/")
            described = {"os": os_name, "architecture": architecture,
                         **({"variant": variant[0]} if variant else {})}
            manifest = manifest_for({**config, **described})
            # Platform manifests are stored by digest only, as `docker buildx` pushes them.
            digest = client.put_manifest(ref.with_tag(None).with_digest(_sha256(manifest)),
                                         manifest_type, manifest)
            entries.append({"mediaType": manifest_type, "digest": digest, "size": len(manifest),
                            "platform": described})
        index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}).encode()
        return ref.with_digest(client.put_manifest(ref, index_type, index))
