"""Image references normalised as Docker does, with Apptainer's Registry:/Namespace: keys."""

from __future__ import annotations

import pytest

from defkit.registry.errors import ReferenceError_
from defkit.registry.reference import ImageRef, normalise_registry, parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("text", "canonical", "endpoint", "reference"), [
    ("ubuntu", "docker.io/library/ubuntu:latest", "registry-1.docker.io", "latest"),
    ("ubuntu:24.04", "docker.io/library/ubuntu:24.04", "registry-1.docker.io", "24.04"),
    ("docker://alpine", "docker.io/library/alpine:latest", "registry-1.docker.io", "latest"),
    ("bitnami/redis:7", "docker.io/bitnami/redis:7", "registry-1.docker.io", "7"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest",
     "registry-1.docker.io", "latest"),
    ("registry-1.docker.io/foo/bar:1", "docker.io/foo/bar:1", "registry-1.docker.io", "1"),
    ("localhost/x", "localhost/x:latest", "localhost", "latest"),
    ("localhost:5000/x/y:t", "localhost:5000/x/y:t", "localhost:5000", "t"),
    ("ghcr.io/org/tool@" + DIGEST, "ghcr.io/org/tool@" + DIGEST, "ghcr.io", DIGEST),
    ("ghcr.io/org/tool:1.2@" + DIGEST, "ghcr.io/org/tool:1.2@" + DIGEST, "ghcr.io", DIGEST),
    ("oras://127.0.0.1:5000/cache/sif:sha256-abc", "127.0.0.1:5000/cache/sif:sha256-abc",
     "127.0.0.1:5000", "sha256-abc"),
    ("[::1]:5000/a", "[::1]:5000/a:latest", "[::1]:5000", "latest"),
    ("Host/repo", "Host/repo:latest", "Host", "latest"),  # upper case: a host, as in Docker
    ("a_b/c.d/e__f-g", "docker.io/a_b/c.d/e__f-g:latest", "registry-1.docker.io", "latest"),
])
def test_docker_normalisation(text: str, canonical: str, endpoint: str, reference: str) -> None:
    ref = parse_reference(text)
    assert (str(ref), ref.endpoint, ref.reference) == (canonical, endpoint, reference)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(("registry", "namespace", "from_", "canonical"), [
    ("quay.io", None, "biocontainers/samtools:1.9", "quay.io/biocontainers/samtools:1.9"),
    (None, "myorg", "tool:1", "docker.io/myorg/tool:1"),
    ("ghcr.io", "org", "tool", "ghcr.io/org/tool:latest"),
    ("index.docker.io", "library", "debian:12", "docker.io/library/debian:12"),
    # Apptainer joins the strings first: a From: with its own registry ends up in the path.
    ("quay.io", None, "ghcr.io/x/y", "quay.io/ghcr.io/x/y:latest"),
])
def test_registry_and_namespace_keys(registry: str | None, namespace: str | None, from_: str,
                                     canonical: str) -> None:
    assert str(parse_reference(from_, registry=registry, namespace=namespace)) == canonical


@pytest.mark.parametrize(("text", "why"), [
    ("", "invalid image reference"),
    ("Ubuntu", "repository names are lower case"),
    ("a b", "invalid image reference"),
    ("ubuntu:bad/tag", "bad registry"),
    ("ubuntu:" + "t" * 129, "bad tag"),
    ("ubuntu@sha256:abc", "bad digest"),
    ("ubuntu@md5:" + "a" * 32 * 2, "invalid digest"),
    ("ghcr.io/-bad/x", "bad repository"),
    ("bad_host:5000:1/x", "bad registry"),
    ("ubuntu:\x1b[31m", "invalid image reference"),
])
def test_rejected_references_are_one_line(text: str, why: str) -> None:
    with pytest.raises(ReferenceError_) as error:
        parse_reference(text)
    message = error.value.format()
    assert why in message and "\n" not in message and "\x1b" not in message


def test_with_digest_and_tag() -> None:
    ref = parse_reference("ghcr.io/org/tool:1")
    assert str(ref.with_digest(DIGEST)) == f"ghcr.io/org/tool:1@{DIGEST}"
    assert ref.with_tag(None).with_digest(DIGEST).reference == DIGEST
    with pytest.raises(ReferenceError_):
        ref.with_digest("sha256:short")
    assert str(ImageRef("ghcr.io", "", None, None)) == "ghcr.io"


def test_normalise_registry() -> None:
    assert normalise_registry("docker://ghcr.io/") == "ghcr.io"
    assert normalise_registry("https://index.docker.io/v1/") == "docker.io"
    assert normalise_registry("oras://127.0.0.1:5000") == "127.0.0.1:5000"
    with pytest.raises(ReferenceError_):
        normalise_registry("not a host")
