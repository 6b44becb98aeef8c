"""Pull mirrors (registries.conf) in front of a real registry."""

from __future__ import annotations

import pathlib

import pytest

from defkit.errors import ConfigError
from defkit.registry.client import RegistryClient
from defkit.registry.errors import UnreachableError
from defkit.registry.mirrors import Mirror, MirrorRule, load_rules, mirrored
from defkit.registry.reference import parse_reference
from tests.registry.test_client import tar_of
from tests.registry_fixture import RunningRegistry, free_port, push_test_image


def test_a_mirror_serves_what_the_unreachable_origin_would(registry: RunningRegistry,
                                                          tmp_path: pathlib.Path) -> None:
    pinned = push_test_image(registry, "mirrored/app", "v1", [tar_of({"m": b"m"})], {})
    origin = f"127.0.0.1:{free_port()}"
    rules = [MirrorRule(origin, (Mirror(f"127.0.0.1:{free_port()}"), Mirror(registry.host)))]
    ref = parse_reference(f"{origin}/mirrored/app:v1")
    before = len(registry.request_log())
    with RegistryClient(mirrors=rules, credentials=lambda host: None, timeout=5) as client:
        assert client.resolve(ref) == pinned.digest
        manifest = client.get_manifest(ref)
        layer = manifest.json()["layers"][0]
        client.fetch_blob(ref, layer["digest"], str(tmp_path / "layer"), size=layer["size"])
    assert manifest.digest == pinned.digest
    assert (tmp_path / "layer").stat().st_size == layer["size"]
    served = [(r.method, r.path) for r in registry.request_log()[before:]]
    assert ("GET", f"/v2/mirrored/app/blobs/{layer['digest']}") in served
    with RegistryClient(mirrors=[], credentials=lambda host: None, timeout=5) as client, \
            pytest.raises(UnreachableError, match=str(ref)):
        client.get_manifest(ref)


def test_the_origin_is_the_fallback(registry: RunningRegistry) -> None:
    pinned = push_test_image(registry, "fallback/app", "v1", [tar_of({"f": b"f"})], {})
    rules = [MirrorRule(registry.host, (Mirror(f"127.0.0.1:{free_port()}/cache"),))]
    with RegistryClient(mirrors=rules, credentials=lambda host: None, timeout=5) as client:
        assert client.get_manifest(registry.ref("fallback/app:v1")).digest == pinned.digest


def test_registries_conf(tmp_path: pathlib.Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('''
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.example:5000/hub"
insecure = true
[[registry.mirror]]
location = "pinned.example"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/org"
location = "quay.io/org"
mirror-by-digest-only = true
[[registry.mirror]]
location = "quay-mirror.example"
''')
    rules = load_rules(str(conf))
    assert [rule.prefix for rule in rules] == ["docker.io", "quay.io/org"]
    by_tag = parse_reference("ubuntu:24.04")
    assert [(str(r), insecure) for r, insecure in mirrored(rules, by_tag)] == [
        ("mirror.example:5000/hub/library/ubuntu:24.04", True)]
    pinned = by_tag.with_digest("sha256:" + "a" * 64)
    assert [str(r) for r, _ in mirrored(rules, pinned)][1] == (
        "pinned.example/library/ubuntu:24.04@sha256:" + "a" * 64)
    assert mirrored(rules, parse_reference("quay.io/org/tool:1")) == []
    assert [str(r) for r, _ in mirrored(rules, parse_reference("quay.io/org/tool@sha256:" + "b" * 64))] == [
        "quay-mirror.example/tool@sha256:" + "b" * 64]
    assert mirrored(rules, parse_reference("quay.io/other/tool:1")) == []
    assert load_rules(str(tmp_path / "missing.conf")) == []
    conf.write_text('[[registry]]\nlocation = "x.io"\n[[registry.mirror]]\ninsecure = true\n')
    with pytest.raises(ConfigError, match="a mirror of x.io needs a `location`"):
        load_rules(str(conf))
