"""The Bearer token handshake against docker-registry with `auth: token` (real JWT checks)."""

from __future__ import annotations

import pytest

from defkit.registry.auth import Credentials
from defkit.registry.client import RegistryClient
from defkit.registry.errors import AuthError
from tests.registry.test_client import tar_of
from tests.registry.token_server import SERVICE
from tests.registry_fixture import RunningRegistry, push_test_image


def test_push_and_pull_with_a_token(token_registry: RunningRegistry) -> None:
    pinned = push_test_image(token_registry, "team/app", "v1", [tar_of({"t": b"t"})], {})
    tokens = token_registry.token_server
    assert tokens.requests, "the client never asked the token service"
    assert {r["service"] for r in tokens.requests} == {SERVICE}
    granted = [set(a["actions"]) for r in tokens.requests for a in r.get("granted", [])]
    assert {"pull", "push"} in granted
    asked = len(tokens.requests)
    with token_registry.client() as client:
        assert client.get_manifest(pinned).digest == pinned.digest
        client.get_manifest(pinned)  # the token is reused
    assert [r["scope"] for r in tokens.requests[asked:]] == [["repository:team/app:pull"]]


def test_anonymous_token_for_public_repositories(token_registry: RunningRegistry) -> None:
    public = push_test_image(token_registry, "public/base", "v1", [tar_of({"p": b"p"})], {})
    private = push_test_image(token_registry, "team/secret", "v1", [tar_of({"s": b"s"})], {})
    with RegistryClient(credentials=lambda host: None) as client:
        assert client.resolve(public) == public.digest
        with pytest.raises(AuthError) as error:
            client.get_manifest(private)
    assert error.value.format() == (
        f"error: {private}: access denied (the repository does not exist or needs credentials: "
        f"defkit registry login {token_registry.host})"
    )
    assert token_registry.token_server.requests[-1]["credentials"] is False


def test_wrong_password_at_the_token_service(token_registry: RunningRegistry) -> None:
    pinned = push_test_image(token_registry, "team/other", "v1", [tar_of({"o": b"o"})], {})
    wrong = Credentials(token_registry.username or "", "hunter2-wrong", "test")
    with RegistryClient(credentials=wrong) as client, pytest.raises(AuthError) as error:
        client.get_manifest(pinned)
    message = error.value.format()
    assert message == (f"error: {pinned}: access denied for credentials of 'defkit' from test "
                       "(wrong credentials or no access)")
    assert "hunter2" not in repr(error.value)
    with RegistryClient(credentials=wrong) as client, pytest.raises(AuthError):
        client.check_login(token_registry.host)
    with token_registry.client() as client:
        client.check_login(token_registry.host)


def test_no_password_to_a_plain_http_token_service() -> None:
    # A stand-in (httpx.MockTransport) for a remote HTTPS registry whose token service is
    # plain HTTP on another host: the tests have no such host.
    import httpx

    from defkit.registry.reference import parse_reference

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(401, headers={
            "WWW-Authenticate": 'Bearer realm="http://auth.example/token",service="s"'})

    ref = parse_reference("registry.example/team/app:1")
    secret = Credentials("me", "s3cret-pw", "test")
    with RegistryClient(credentials=secret, transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(AuthError, match="asks for credentials over plain HTTP") as error:
        client.get_manifest(ref)
    assert seen == ["https://registry.example/v2/team/app/manifests/1"]
    assert "s3cret" not in error.value.format()
