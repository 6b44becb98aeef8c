"""What the builder and the Library API clients share: one httpx client per server, the bearer
header, and the one-line errors (a refused token, an unreachable host, the server's own message).

The token is sent only in the `Authorization` header of requests to the server it was given for,
and is cut out of any text a server sends back before that text reaches a message.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import httpx

from defkit import __version__
from defkit.errors import DefkitError
from defkit.remote.protocol import ProtocolError, unwrap

USER_AGENT = f"defkit/{__version__}"
#: Requests other than downloads and uploads; a build's log has no time limit (websocket).
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class RemoteError(DefkitError):
    """A remote builder or library could not be reached, refused, or failed."""


class TokenRefused(RemoteError):
    """The server answered 401/403: the token is missing, wrong or expired."""


def one_line(text: str, limit: int = 300) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (where a bearer token may follow a redirect)."""
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.hostname, first.port) == (second.scheme, second.hostname,
                                                          second.port)


class Server:
    """One Sylabs-protocol server (a builder or a library) at `base` (ending in `/`)."""

    def __init__(self, base: str, token: str = "", *, what: str = "remote builder",
                 timeout: httpx.Timeout = TIMEOUT) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.host = urlsplit(self.base).netloc
        self.what = what
        self._token = token
        self.http = httpx.Client(timeout=timeout, follow_redirects=False,
                                 headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return urljoin(self.base, path)

    def auth_headers(self, scheme: str = "Bearer") -> dict[str, str]:
        """The bearer header (scs-build-client writes the scheme `BEARER`; the scheme is
        case-insensitive, RFC 9110 §11.1)."""
        return {"Authorization": f"{scheme} {self._token}"} if self._token else {}

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    def request(self, method: str, path: str, *, authorized: bool = True,
                json_body: Any = None, expect: str = "") -> httpx.Response:
        """One request to the server; a transport failure is a one-line RemoteError."""
        headers = self.auth_headers() if authorized else {}
        try:
            return self.http.request(method, self.url(path), headers=headers, json=json_body)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc, expect) from None

    def unreachable(self, exc: Exception, doing: str = "") -> RemoteError:
        reason = self.redact(one_line(str(exc))) or type(exc).__name__
        during = f" ({doing})" if doing else ""
        return RemoteError(f"cannot reach the {self.what} at {self.host}{during}: {reason}")

    def check(self, response: httpx.Response, doing: str) -> None:
        """A non-2xx answer as a one-line error: a refused token, or the server's message."""
        if response.is_success:
            return
        message = self.message(response)
        if response.status_code in (401, 403):
            if not self._token:
                raise TokenRefused(
                    f"the {self.what} at {self.host} needs a token ({doing}: HTTP "
                    f"{response.status_code}): set DEFKIT_REMOTE_TOKEN or run `defkit remote "
                    "login URL`")
            raise TokenRefused(f"the {self.what} at {self.host} refused the token ({doing}: "
                               f"HTTP {response.status_code}{': ' + message if message else ''})")
        detail = message or response.reason_phrase or "error"
        raise RemoteError(f"the {self.what} at {self.host} answered HTTP "
                          f"{response.status_code} ({doing}): {detail}")

    def message(self, response: httpx.Response) -> str:
        """The `error.message` of an error envelope, else the start of a text body."""
        try:
            body = response.read()[:65536]
        except httpx.HTTPError:
            return ""
        try:
            unwrap(json.loads(body))
        except ProtocolError as exc:
            text = exc.message.removeprefix("the server refused: ")
            if text != "the server's reply has neither data nor error":
                return self.redact(one_line(text))
        except ValueError:
            pass
        if response.headers.get("content-type", "").startswith("text/"):
            return self.redact(one_line(body.decode("utf-8", "replace")))
        return ""

    def data(self, response: httpx.Response, doing: str) -> Any:
        """The `data` of a 2xx envelope."""
        self.check(response, doing)
        try:
            return unwrap(response.json())
        except ValueError:
            raise RemoteError(f"the {self.what} at {self.host} sent a reply that is not JSON "
                              f"({doing})") from None
        except ProtocolError as exc:
            raise RemoteError(f"the {self.what} at {self.host}: {self.redact(exc.message)} "
                              f"({doing})") from None

    def token_status(self, token_base: Optional[str] = None) -> str:
        """`GET <tokenAPI>/v1/token-status`: "valid", "refused", or "unknown" (no token
        service there)."""
        from defkit.remote.protocol import TOKEN_STATUS_PATH

        url = urljoin(token_base if token_base and token_base.endswith("/")
                      else (token_base + "/" if token_base else self.base), TOKEN_STATUS_PATH)
        try:
            response = self.http.get(url, headers=self.auth_headers())
        except httpx.HTTPError as exc:
            raise self.unreachable(exc, "token check") from None
        if response.status_code in (401, 403):
            return "refused"
        if response.is_success:
            return "valid"
        return "unknown"


__all__ = ["RemoteError", "Server", "TokenRefused", "USER_AGENT", "one_line", "same_origin"]
