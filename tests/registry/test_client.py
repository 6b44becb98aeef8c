"""The registry client against a real docker-registry (distribution 2.8) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile

import pytest

from defkit.registry.client import (
    ALL_MANIFEST_TYPES,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
)
from defkit.registry.errors import (
    AuthError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnreachableError,
    UnsupportedManifestError,
)
from defkit.registry.reference import parse_reference
from tests.registry_fixture import RunningRegistry, push_bytes, push_test_image


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_manifest_head_and_get_round_trip(registry: RunningRegistry, docker: bool) -> None:
    layer = tar_of({"hello.txt": b"hello\n"})
    pinned = push_test_image(registry, "roundtrip/image", f"v1-{docker}", [layer],
                             {"architecture": "amd64", "os": "linux"}, docker=docker)
    by_tag = registry.ref(f"roundtrip/image:v1-{docker}")
    with registry.client() as client:
        assert client.resolve(by_tag) == pinned.digest
        manifest = client.get_manifest(by_tag)
        assert manifest.media_type == (DOCKER_MANIFEST if docker else OCI_MANIFEST)
        assert manifest.digest == pinned.digest == sha256(manifest.data)
        assert client.get_manifest(pinned).data == manifest.data
        body = manifest.json()
        blob = body["layers"][0]
        out = registry.root.parent / f"layer-{docker}"
        client.fetch_blob(by_tag, blob["digest"], str(out), size=blob["size"])
        import gzip

        assert gzip.decompress(out.read_bytes()) == layer
        assert client.blob_exists(by_tag, blob["digest"])
        assert not client.blob_exists(by_tag, sha256(b"never pushed"))


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
def test_index_of_platforms(registry: RunningRegistry, docker: bool) -> None:
    pinned = push_test_image(registry, "roundtrip/multi", f"m-{docker}", [tar_of({"a": b"a"})], {},
                             platforms=["linux/amd64", "linux/arm64"], docker=docker)
    with registry.client() as client:
        index = client.get_manifest(registry.ref(f"roundtrip/multi:m-{docker}"))
        assert index.media_type == (DOCKER_LIST if docker else OCI_INDEX)
        assert index.digest == pinned.digest
        entries = index.json()["manifests"]
        assert [entry["platform"]["architecture"] for entry in entries] == ["amd64", "arm64"]
        arm = client.get_manifest(pinned.with_digest(entries[1]["digest"]))
        config_ref = arm.json()["config"]
        config_path = registry.root.parent / f"config-{docker}"
        client.fetch_blob(pinned, config_ref["digest"], str(config_path))
        assert json.loads(config_path.read_bytes())["architecture"] == "arm64"


def test_index_platforms_with_variants(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    pinned = push_test_image(registry, "roundtrip/variants", "v", [tar_of({"a": b"a"})], {},
                             platforms=["linux/amd64", "linux/arm/v7", "linux/arm64/v8"])
    with registry.client() as client:
        entries = client.get_manifest(pinned).json()["manifests"]
        assert [entry["platform"] for entry in entries] == [
            {"os": "linux", "architecture": "amd64"},
            {"os": "linux", "architecture": "arm", "variant": "v7"},
            {"os": "linux", "architecture": "arm64", "variant": "v8"},
        ]
        config_ref = client.get_manifest(pinned.with_digest(entries[1]["digest"])).json()["config"]
        client.fetch_blob(pinned, config_ref["digest"], str(tmp_path / "config"))
    config = json.loads((tmp_path / "config").read_bytes())
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm", "v7")


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_other_layer_compressions(registry: RunningRegistry, compression: str) -> None:
    layer = tar_of({"x": b"x" * 1000})
    pinned = push_test_image(registry, "roundtrip/comp", compression, [layer], {},
                             compression=compression)
    with registry.client() as client:
        descriptor = client.get_manifest(pinned).json()["layers"][0]
    suffix = {"zstd": "+zstd", "none": ""}[compression]
    assert descriptor["mediaType"] == f"application/vnd.oci.image.layer.v1.tar{suffix}"


def test_push_is_one_streamed_put_by_default(registry: RunningRegistry,
                                             tmp_path: pathlib.Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    source = tmp_path / "blob"
    source.write_bytes(data)
    ref = registry.ref("monolithic/blob:x")
    before = len(registry.request_log())
    with registry.client() as client:
        client.push_blob(ref, str(source), sha256(data), len(data))
        client.fetch_blob(ref, sha256(data), str(tmp_path / "back"), size=len(data))
    assert (tmp_path / "back").read_bytes() == data
    sent = [(r.method, r.status) for r in registry.request_log()[before:] if r.method != "GET"]
    assert sent == [("HEAD", 404), ("POST", 202), ("PUT", 201)]


def test_chunked_push_of_a_large_blob(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * 4096 * 3 + b"tail"  # 3 MiB + 4 bytes: four chunks of 1 MiB
    source = tmp_path / "blob"
    source.write_bytes(data)
    ref = registry.ref("chunked/blob:x")
    before = len(registry.request_log())
    with registry.client() as client:
        client.push_blob(ref, str(source), sha256(data), len(data), chunk_size=1024 * 1024)
        client.fetch_blob(ref, sha256(data), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
    methods = [r.method for r in registry.request_log()[before:]]
    assert methods.count("PATCH") == 4
    assert methods.count("PUT") == 1


def test_put_manifest_under_a_tag_and_its_digest(registry: RunningRegistry) -> None:
    pinned = push_test_image(registry, "put/tagged", "v1", [tar_of({"t": b"t"})], {})
    with registry.client() as client:
        manifest = client.get_manifest(pinned)
        # A tag with the right digest: the tag is set; a wrong digest: nothing is sent.
        assert client.put_manifest(registry.ref(f"put/tagged:v2@{pinned.digest}"),
                                   manifest.media_type, manifest.data) == pinned.digest
        assert client.resolve(registry.ref("put/tagged:v2")) == pinned.digest
        with pytest.raises(DigestMismatchError, match="put/tagged:v3@"):
            client.put_manifest(registry.ref("put/tagged:v3").with_digest(sha256(b"other")),
                                manifest.media_type, manifest.data)
        assert not client.manifest_exists(registry.ref("put/tagged:v3"))


def test_push_skips_a_blob_the_registry_has(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    ref = registry.ref("skip/blob:x")
    with registry.client() as client:
        push_bytes(client, ref, b"once", tmp_path)
        before = len(registry.request_log())
        push_bytes(client, ref, b"once", tmp_path)
    assert [r.method for r in registry.request_log()[before:]] == ["HEAD"]


def test_unknown_tag_and_repository(registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    push_test_image(registry, "known/repo", "v1", [tar_of({"a": b""})], {})
    with registry.client() as client:
        with pytest.raises(NotFoundError) as tag_error:
            client.get_manifest(registry.ref("known/repo:nope"))
        assert tag_error.value.format() == (
            f"error: {registry.host}/known/repo:nope: manifest unknown (no tag or digest 'nope')"
        )
        with pytest.raises(NotFoundError, match="known/repo:nope"):
            client.resolve(registry.ref("known/repo:nope"))
        with pytest.raises(NotFoundError, match="unknown/repo"):
            client.get_manifest(registry.ref("unknown/repo:v1"))
        with pytest.raises(NotFoundError, match="blob unknown"):
            client.fetch_blob(registry.ref("known/repo:v1"), sha256(b"absent"), str(tmp_path / "b"))
    assert list(tmp_path.iterdir()) == []


def test_unreachable_port_is_one_line(tmp_path: pathlib.Path) -> None:
    from tests.registry_fixture import free_port

    ref = parse_reference(f"127.0.0.1:{free_port()}/some/image:1")
    with RegistryClient(timeout=5) as client, pytest.raises(UnreachableError) as error:
        client.get_manifest(ref)
    message = error.value.format()
    assert message.startswith(f"error: {ref}: cannot reach 127.0.0.1:")
    assert "\n" not in message


def test_tls_failure_is_one_line(registry: RunningRegistry) -> None:
    # The registry speaks plain HTTP: an HTTPS client (insecure=False, non-loopback name
    # forced by the URL) fails the TLS handshake.
    with RegistryClient(timeout=5) as client:
        client.base_url = lambda ref: f"https://{registry.host}/v2/{ref.repository}"  # type: ignore[method-assign]
        with pytest.raises(UnreachableError) as error:
            client.get_manifest(registry.ref("tls/x:1"))
    message = error.value.format()
    assert "TLS failure" in message and str(registry.ref("tls/x:1")) in message
    assert "\n" not in message


def test_schema1_manifest_is_refused(registry: RunningRegistry) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "old/image", "tag": "v1",
                          "fsLayers": [], "history": []}).encode()
    # A stand-in: distribution 2.8 no longer stores or serves schema 1 manifests, so the
    # response an old registry would send is made by httpx's MockTransport.
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == ", ".join(ALL_MANIFEST_TYPES)
        return httpx.Response(200, content=schema1, headers={
            "Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"})

    ref = registry.ref("old/image:v1")
    with RegistryClient(transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(UnsupportedManifestError) as error:
        client.get_manifest(ref)
    assert error.value.format().startswith(f"error: {ref}: Docker image manifest schema 1 is not")


def test_manifest_digest_mismatch(registry: RunningRegistry) -> None:
    pinned = push_test_image(registry, "pinned/image", "v1", [tar_of({"p": b"p"})], {})
    assert pinned.digest is not None
    stored = registry.blob_data_path("pinned/image", pinned.digest)
    stored.write_bytes(stored.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    for ref in (pinned, registry.ref("pinned/image:v1")):
        with registry.client() as client, pytest.raises(DigestMismatchError) as error:
            client.get_manifest(ref)
        assert error.value.format().startswith(f"error: {ref}: manifest digest is sha256:")


def test_blob_digest_mismatch_leaves_nothing(registry: RunningRegistry,
                                             tmp_path: pathlib.Path) -> None:
    ref = registry.ref("corrupt/blob:x")
    data = b"the real content " * 1000
    with registry.client() as client:
        digest = push_bytes(client, ref, data, tmp_path / "..")
        stored = registry.blob_data_path("corrupt/blob", digest)
        stored.write_bytes(b"THE REAL CONTENT " * 1000)  # same size, other bytes
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(DigestMismatchError) as error:
            client.fetch_blob(ref, digest, str(out / "blob"), size=len(data))
    assert error.value.format().startswith(f"error: {ref}: blob {digest} arrived with digest sha256:")
    assert list(out.iterdir()) == []


def test_basic_auth_with_right_and_wrong_password(auth_registry: RunningRegistry,
                                                 tmp_path: pathlib.Path) -> None:
    pinned = push_test_image(auth_registry, "private/image", "v1", [tar_of({"s": b"s"})], {})
    with auth_registry.client() as client:
        assert client.get_manifest(pinned).digest == pinned.digest
    from defkit.registry.auth import Credentials

    wrong = Credentials(auth_registry.username or "", "not-the-password", "test")
    with RegistryClient(credentials=wrong) as client, pytest.raises(AuthError) as error:
        client.get_manifest(pinned)
    message = error.value.format()
    assert "\n" not in message and str(pinned) in message
    assert "not-the-password" not in message and "not-the-password" not in repr(error.value)
    assert "not-the-password" not in repr(wrong)
    with RegistryClient(credentials=lambda host: None) as client, \
            pytest.raises(AuthError, match="needs credentials"):
        client.get_manifest(pinned)


def test_ca_store_is_read_at_the_first_tls_handshake(tmp_path: pathlib.Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A real TLS server with a self-signed certificate: refused as long as the system's store
    # does not hold it; trusted when SSL_CERT_FILE names it after the client was made (so the
    # store was read at the handshake, not in RegistryClient()).
    import http.server
    import ssl
    import threading

    from defkit.runner import run

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], check=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    ref = parse_reference(f"{host}/tls/x:1")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    try:
        for trusted in (False, True):
            with RegistryClient(timeout=5, credentials=lambda host: None) as client:
                client.base_url = lambda ref: f"https://{host}/v2/{ref.repository}"  # type: ignore[method-assign]
                if trusted:
                    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
                # The handler answers 501 to everything: a registry error, after the handshake.
                expected = RegistryError if trusted else UnreachableError
                with pytest.raises(expected) as error:
                    client.get_manifest(ref)
                assert ("self-signed certificate" in str(error.value)) is not trusted
    finally:
        server.shutdown()
        server.server_close()
