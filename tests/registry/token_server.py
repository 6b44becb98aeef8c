"""A small token service for docker-registry's `auth: token` (the Bearer flow of Docker Hub,
GHCR, GitLab, Quay and Harbor), so the client's token handshake runs against a real registry
that really verifies the tokens.

Written by hand for the tests (no token service is packaged in Debian): an http.server endpoint
that checks HTTP basic credentials and answers with an RS256 JWT signed by `openssl dgst`,
carrying its self-signed certificate in `x5c`, which the registry trusts through its
`rootcertbundle`. Anonymous callers get pull access to `public/*` only, as on Docker Hub.
"""

from __future__ import annotations

import base64
import json
import pathlib
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

from defkit.runner import run

ISSUER = "defkit-test-issuer"
SERVICE = "defkit-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, directory: pathlib.Path, username: str, password: str):
        self.directory = directory
        self.username, self.password = username, password
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
             "-out", str(self.cert), "-days", "2", "-subj", "/CN=defkit-test-token"], check=True)
        der = run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests: list[dict[str, Any]] = []  # what each token request asked and got
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                server._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def registry_config(self) -> str:
        return (f"auth:\n  token: {{realm: '{self.realm}', service: {SERVICE}, issuer: {ISSUER},"
                f" rootcertbundle: {self.cert}}}\n")

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _user(self, header: Optional[str]) -> tuple[bool, Optional[str]]:
        """(credentials given, the user when they are right)."""
        if not header or not header.startswith("Basic "):
            return False, None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return True, user if (user, password) == (self.username, self.password) else None

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(request.path).query)
        given, user = self._user(request.headers.get("Authorization"))
        record: dict[str, Any] = {"service": query.get("service", [None])[0],
                                  "scope": query.get("scope", []), "user": user,
                                  "credentials": given}
        self.requests.append(record)
        if given and user is None:
            request.send_response(401)
            request.send_header("Content-Type", "application/json")
            request.end_headers()
            request.wfile.write(b'{"details": "incorrect username or password"}')
            return
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            allowed = actions.split(",") if user else (
                ["pull"] if name.startswith("public/") and "pull" in actions else [])
            access.append({"type": kind, "name": name, "actions": allowed})
        record["granted"] = access
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                        input=signing_input.encode(), check=True).stdout
        body = json.dumps({"token": f"{signing_input}.{_b64url(signature)}", "expires_in": 300})
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.end_headers()
        request.wfile.write(body.encode())
