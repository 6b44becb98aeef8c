"""Credentials found where Apptainer looks, used against a registry with htpasswd basic auth."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import stat

import pytest

from defkit.errors import ConfigError
from defkit.registry import auth
from defkit.registry.client import RegistryClient, parse_challenge
from defkit.registry.errors import AuthError
from tests.registry.test_client import tar_of
from tests.registry_fixture import RunningRegistry, push_test_image

ENV_NAMES = ("APPTAINER_DOCKER_USERNAME", "APPTAINER_DOCKER_PASSWORD",
             "SINGULARITY_DOCKER_USERNAME", "SINGULARITY_DOCKER_PASSWORD", "DOCKER_CONFIG")


@pytest.fixture()
def home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def docker_config(home: pathlib.Path, entries: dict[str, object]) -> None:
    (home / ".docker").mkdir(exist_ok=True)
    (home / ".docker" / "config.json").write_text(json.dumps(entries))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def private_image(auth_registry: RunningRegistry) -> str:
    return str(push_test_image(auth_registry, "private/auth", "v1", [tar_of({"a": b"a"})], {}))


def fetch_with_discovered_credentials(auth_registry: RunningRegistry, image: str) -> None:
    from defkit.registry.reference import parse_reference

    with RegistryClient() as client:  # credentials=None: discovered
        client.get_manifest(parse_reference(image))


def test_environment_variables(home: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                               auth_registry: RunningRegistry, private_image: str) -> None:
    with pytest.raises(AuthError, match="needs credentials"):
        fetch_with_discovered_credentials(auth_registry, private_image)
    for prefix in ("SINGULARITY_DOCKER_", "APPTAINER_DOCKER_"):
        monkeypatch.setenv(prefix + "USERNAME", auth_registry.username or "")
        monkeypatch.setenv(prefix + "PASSWORD", auth_registry.password or "")
        fetch_with_discovered_credentials(auth_registry, private_image)
    # APPTAINER_ wins over SINGULARITY_ and over any file.
    monkeypatch.setenv("SINGULARITY_DOCKER_PASSWORD", "wrong")
    docker_config(home, {"auths": {auth_registry.host: {"auth": b64("defkit:wrong")}}})
    fetch_with_discovered_credentials(auth_registry, private_image)
    monkeypatch.setenv("APPTAINER_DOCKER_PASSWORD", "wrong-from-env")
    with pytest.raises(AuthError) as error:
        fetch_with_discovered_credentials(auth_registry, private_image)
    assert "APPTAINER_DOCKER_USERNAME" in error.value.format()
    assert "wrong-from-env" not in error.value.format() + repr(error.value)


def test_docker_config_file(home: pathlib.Path, auth_registry: RunningRegistry,
                            private_image: str) -> None:
    user, password = auth_registry.username or "", auth_registry.password or ""
    docker_config(home, {"auths": {f"https://{auth_registry.host}/v1/": {"auth": b64(f"{user}:{password}")}}})
    fetch_with_discovered_credentials(auth_registry, private_image)
    # Apptainer's own file comes first.
    (home / ".apptainer").mkdir()
    (home / ".apptainer" / "docker-config.json").write_text(json.dumps(
        {"auths": {auth_registry.host: {"auth": b64(f"{user}:not-it")}}}))
    with pytest.raises(AuthError) as error:
        fetch_with_discovered_credentials(auth_registry, private_image)
    assert str(home / ".apptainer" / "docker-config.json") in error.value.format()
    assert "not-it" not in error.value.format()


def test_credential_helper(home: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                           auth_registry: RunningRegistry, private_image: str) -> None:
    # A real helper program on PATH, as docker-credential-pass or -secretservice would be.
    bin_dir = home / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-defkittest"
    answer = json.dumps({"ServerURL": auth_registry.host, "Username": auth_registry.username,
                         "Secret": auth_registry.password})
    helper.write_text(f"#!/bin/sh\nread server\n[ \"$server\" = {auth_registry.host} ] || exit 1\n"
                      f"echo '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    docker_config(home, {"credHelpers": {auth_registry.host: "defkittest"}})
    fetch_with_discovered_credentials(auth_registry, private_image)
    docker_config(home, {"credsStore": "defkittest"})
    found = auth.find_credentials(auth_registry.host)
    assert found is not None and found.source == "docker-credential-defkittest"
    assert auth.find_credentials("other.example") is None  # the helper exits 1 for it


def test_docker_hub_keys(home: pathlib.Path) -> None:
    docker_config(home, {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")}}})
    found = auth.find_credentials("docker.io")
    assert found is not None and (found.username, found.password) == ("hubuser", "hubpw")
    assert auth.find_credentials("ghcr.io") is None
    assert "hubpw" not in repr(found) and "hubpw" not in str(found)


def test_broken_config_is_one_line(home: pathlib.Path) -> None:
    docker_config(home, {"auths": {"ghcr.io": {"auth": "%%%not-base64"}}})
    with pytest.raises(ConfigError) as error:
        auth.find_credentials("ghcr.io")
    assert "%%%" not in error.value.format() and "ghcr.io" in error.value.format()
    (home / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        auth.find_credentials("ghcr.io")


def test_login_writes_apptainer_file_private(home: pathlib.Path) -> None:
    (home / ".apptainer").mkdir()
    target = home / ".apptainer" / "docker-config.json"
    target.write_text(json.dumps({"auths": {"quay.io": {"auth": b64("q:q")}}, "other": 1}))
    assert auth.login("docker.io", "me", "secret") == str(target)
    config = json.loads(target.read_text())
    assert config["other"] == 1 and config["auths"]["quay.io"] == {"auth": b64("q:q")}
    assert config["auths"]["https://index.docker.io/v1/"] == {"auth": b64("me:secret")}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert auth.find_credentials("docker.io") == auth.Credentials("me", "secret", str(target))
    assert auth.logout("docker.io") is True and auth.logout("docker.io") is False
    assert auth.find_credentials("docker.io") is None
    assert [p.name for p in (home / ".apptainer").iterdir()] == ["docker-config.json"]


def test_parse_challenge() -> None:
    assert parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ubuntu:pull"'
    ) == ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                     "scope": "repository:library/ubuntu:pull"})
    assert parse_challenge('Basic realm="defkit-test"') == ("basic", {"realm": "defkit-test"})
    assert parse_challenge('Bearer realm="https://x/token", error="invalid_token", '
                           'scope="a:b:pull,push"')[1]["scope"] == "a:b:pull,push"
    assert parse_challenge('Bearer realm="a\\"b"')[1]["realm"] == 'a"b'
    assert parse_challenge('Bearer realm="r1", Basic realm="r2"') == ("bearer", {"realm": "r1"})
