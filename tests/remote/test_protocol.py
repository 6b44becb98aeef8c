"""The remote build protocol's JSON, pinned to the field names SingularityCE's client uses.

The literal documents below are written from the Go structs of sylabs/scs-build-client
(`client/build.go` `Submit` and `rawBuildInfo`, `client/build_context.go`; 0.7 sends
`checksum`/`contextChecksum`, later releases `digest`/`contextDigest` and `workingDir`) and
sylabs/scs-library-client (`Image` in `client/models.go`, `VersionInfo` in `client/version.go`),
and the envelope of sylabs/json-resp. They are checked against `defkit.remote.protocol` and
against the running `defkit serve`.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib

import httpx
import pytest

from defkit.remote import protocol
from defkit.remote.protocol import (
    BuildInfo,
    BuildRequest,
    ContextUpload,
    FrontendConfig,
    LibraryImage,
    LibraryRef,
    ProtocolError,
    VersionInfo,
)
from tests.remote.conftest import (
    RemoteServer,
    context_archive,
    follow_log,
    needs_builder,
    upload_context,
)

HEX = "0123456789abcdef" * 4
DEFINITION = b"Bootstrap: scratch\n\n%runscript\n    echo hi\n"

# What scs-build-client sends (its Go struct tags), one document per client generation.
CONTEXT_REQUEST_OLD = {"size": 1234, "checksum": f"sha256.{HEX}"}
CONTEXT_REQUEST_NEW = {"size": 1234, "digest": f"sha256.{HEX}"}
BUILD_REQUEST_OLD = {
    "definitionRaw": base64.b64encode(DEFINITION).decode(),
    "libraryRef": "",
    "builderRequirements": {"arch": "amd64"},
    "contextChecksum": f"sha256.{HEX}",
}
BUILD_REQUEST_NEW = {
    "definitionRaw": base64.b64encode(DEFINITION).decode(),
    "libraryRef": "library://alice/project/tool:1.0",
    "libraryURL": "https://library.example.org",
    "builderRequirements": {"arch": "arm64"},
    "contextDigest": f"sha256.{HEX}",
    "workingDir": "/home/alice/project",
}
# What it reads (rawBuildInfo: imageSize and imageChecksum are omitempty).
BUILD_INFO_KEYS = {"id", "isComplete", "imageSize", "imageChecksum", "libraryRef", "libraryURL"}
# scs-library-client's Image fields a download uses.
IMAGE_KEYS = {"id", "hash", "size", "arch", "uploaded", "entityName", "collectionName",
              "containerName", "tags", "container", "createdAt", "createdBy"}


def test_the_context_request_in_both_spellings() -> None:
    for document in (CONTEXT_REQUEST_OLD, CONTEXT_REQUEST_NEW):
        upload = ContextUpload.from_json(document)
        assert (upload.size, upload.checksum) == (1234, f"sha256.{HEX}")
    assert ContextUpload(1234, f"sha256.{HEX}").to_json() == CONTEXT_REQUEST_OLD
    with pytest.raises(ProtocolError):
        ContextUpload.from_json({"size": 1, "checksum": f"sha256:{HEX}"})  # a colon
    with pytest.raises(ProtocolError):
        ContextUpload.from_json({"size": True, "checksum": f"sha256.{HEX}"})


def test_the_build_request_in_both_spellings() -> None:
    old = BuildRequest.from_json(BUILD_REQUEST_OLD)
    assert (old.definition, old.arch, old.context_checksum, old.library_ref) == (
        DEFINITION, "amd64", f"sha256.{HEX}", "")
    new = BuildRequest.from_json(BUILD_REQUEST_NEW)
    assert (new.arch, new.context_checksum, new.working_dir, new.library_url) == (
        "arm64", f"sha256.{HEX}", "/home/alice/project", "https://library.example.org")
    assert old.to_json() == BUILD_REQUEST_OLD
    with pytest.raises(ProtocolError):
        BuildRequest.from_json({"definitionRaw": "not base64!"})


def test_build_info_fields() -> None:
    info = BuildInfo("abc", True, 42, f"sha256.{HEX}", "library://a/b/c:latest", "http://x")
    assert info.to_json() == {"id": "abc", "isComplete": True, "imageSize": 42,
                              "imageChecksum": f"sha256.{HEX}",
                              "libraryRef": "library://a/b/c:latest", "libraryURL": "http://x"}
    assert set(BuildInfo("abc").to_json()) == {"id", "isComplete", "libraryRef", "libraryURL"}
    assert BuildInfo.from_json(info.to_json()) == info


def test_service_configuration_version_envelope_and_library_image() -> None:
    assert FrontendConfig("http://b", "http://l").to_json() == {
        "builderAPI": {"uri": "http://b"}, "libraryAPI": {"uri": "http://l"}}
    assert VersionInfo("1.0", "2.0.0").to_json() == {"version": "1.0", "apiVersion": "2.0.0"}
    assert protocol.error_envelope(401, "no") == {"error": {"code": 401, "message": "no"}}
    assert protocol.envelope({"a": 1}) == {"data": {"a": 1}}
    image = LibraryImage("id1", f"sha256.{HEX}", 7, "amd64", LibraryRef.parse("a/b/c:t"))
    document = image.to_json()
    assert set(document) >= IMAGE_KEYS
    assert (document["entityName"], document["collectionName"], document["containerName"],
            document["tags"]) == ("a", "b", "c", ["t"])
    assert LibraryImage.from_json(document) == image


def test_library_refs() -> None:
    assert str(LibraryRef.parse("library://alice/project/tool:1.0")) == "alice/project/tool:1.0"
    assert str(LibraryRef.parse("alpine")) == "library/default/alpine:latest"
    assert str(LibraryRef.parse("alice/tool")) == "alice/default/tool:latest"
    for bad in ("a/b/c/d", "a/../c", "A/b/c", "a/b/c:x/y", "a/b/c:bad tag", "../../etc/passwd"):
        with pytest.raises(ProtocolError):
            LibraryRef.parse(bad)


def test_the_server_speaks_these_documents(remote_server: RemoteServer) -> None:
    url, headers = remote_server.url, remote_server.headers()
    version = httpx.get(f"{url}/version").json()
    assert set(version) == {"data"} and set(version["data"]) == {"version", "apiVersion"}
    config = httpx.get(f"{url}/assets/config/config.prod.json").json()
    assert config["builderAPI"]["uri"] == url and config["libraryAPI"]["uri"] == url
    for document in (CONTEXT_REQUEST_OLD, CONTEXT_REQUEST_NEW):
        announced = httpx.post(f"{url}/v1/build-context", headers=headers, json=document)
        assert announced.status_code == 201 and announced.headers["location"].startswith(url)
    refused = httpx.get(f"{url}/v1/build/nope", headers=headers)
    assert refused.status_code == 404 and set(refused.json()["error"]) == {"code", "message"}


@needs_builder
@pytest.mark.parametrize("request_document", [BUILD_REQUEST_OLD, BUILD_REQUEST_NEW])
def test_the_server_builds_what_singularityce_sends(remote_server: RemoteServer,
                                                    tmp_path: pathlib.Path,
                                                    request_document: dict[str, object]) -> None:
    (tmp_path / "note.txt").write_text("context\n")
    checksum = upload_context(remote_server, context_archive([tmp_path / "note.txt"]))
    document = dict(request_document)
    document["contextChecksum" if "contextChecksum" in document else "contextDigest"] = checksum
    if "workingDir" in document:
        document["workingDir"] = str(tmp_path)
    document["builderRequirements"] = {"arch": "amd64"}
    submitted = httpx.post(f"{remote_server.url}/v1/build", headers=remote_server.headers(),
                           json=document)
    assert submitted.status_code == 201, submitted.text
    data = submitted.json()["data"]
    assert set(data) <= BUILD_INFO_KEYS and data["isComplete"] is False
    follow_log(remote_server, data["id"])
    done = httpx.get(f"{remote_server.url}/v1/build/{data['id']}",
                     headers=remote_server.headers()).json()["data"]
    assert set(done) == BUILD_INFO_KEYS and done["isComplete"] is True
    ref = done["libraryRef"]
    if document["libraryRef"]:
        assert ref == document["libraryRef"]
    image = httpx.get(f"{remote_server.url}/v1/imagefile/{ref.removeprefix('library://')}",
                      params={"arch": "amd64"}, headers=remote_server.headers())
    assert "sha256." + hashlib.sha256(image.content).hexdigest() == done["imageChecksum"]
    assert done["imageSize"] == len(image.content)


def test_convert_def_file_answers_singularityces_definition(remote_server: RemoteServer) -> None:
    # scs-build posts the raw definition and reads types.Definition back: it validates with it
    # and takes the %files sources to upload from buildData.files[].files[].source.
    url, headers = remote_server.url, remote_server.headers()
    definition = (b"Bootstrap: docker\nFrom: alpine:3.19\n%files\n  data.txt /opt/data.txt\n"
                  b"%post\n  echo hi\n")
    parsed = httpx.post(f"{url}/v1/convert-def-file", headers=headers, content=definition)
    assert parsed.status_code == 200
    data = parsed.json()["data"]
    assert data["header"] == {"bootstrap": "docker", "from": "alpine:3.19"}
    assert data["buildData"]["files"] == [
        {"args": "", "files": [{"source": "data.txt", "destination": "/opt/data.txt"}]}
    ]
    assert data["buildData"]["buildScripts"]["post"]["script"] == "  echo hi\n"
    assert base64.b64decode(data["raw"]) == definition
    bad = httpx.post(f"{url}/v1/convert-def-file", headers=headers,
                     content=b"Bootstrap: docker\nFrom: alpine\n%nosuch\n")
    assert bad.status_code == 400
    assert "definition:3:1: error:" in bad.json()["error"]["message"]
    refused = httpx.post(f"{url}/v1/convert-def-file", content=definition)
    assert refused.status_code == 401
