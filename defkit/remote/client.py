"""A client for the Sylabs remote build API (what `singularity build --remote` speaks): endpoint
discovery, the token check, the build-context upload, submission, status, the websocket log and
cancel. Documents are read and written by `defkit.remote.protocol` only.

Discovery follows the Sylabs clients: `GET <remote>/assets/config/config.prod.json` names the
builder, library and token services; a remote without that file (a `defkit serve`, or a builder
URL given directly) is its own builder and library, with no separate token service.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Optional
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from defkit.remote.context import ContextArchive
from defkit.remote.protocol import (
    BUILD_CONTEXT_PATH,
    BUILD_PATH,
    FRONTEND_CONFIG_PATH,
    VERSION_PATH,
    BuildInfo,
    BuildRequest,
    ContextUpload,
    FrontendConfig,
    ProtocolError,
    build_cancel_path,
    build_context_path,
    build_log_path,
    build_status_path,
)
from defkit.remote.transport import USER_AGENT, RemoteError, Server, one_line

#: How long an upload of the build context may stall (its size has no time limit).
UPLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: Discovery's time limit, as SingularityCE's (10 s).
DISCOVERY_TIMEOUT = httpx.Timeout(10.0)
#: The cancel request on Ctrl-C: the user is waiting to get the terminal back.
CANCEL_TIMEOUT = httpx.Timeout(5.0)
#: Websocket close codes that end a log normally (1000; 1001 "going away" after the last line).
_NORMAL_CLOSE = (1000, 1001)


@dataclass(frozen=True)
class Endpoints:
    builder: str
    library: str
    token_service: str  # "" when the remote has none
    discovered: bool  # from config.prod.json (else the URL is the builder itself)


def discover(url: str) -> Endpoints:
    """The services of the remote at `url` (`config.prod.json`, or `url` itself)."""
    with Server(url, what="remote", timeout=DISCOVERY_TIMEOUT) as server:
        response = server.request("GET", FRONTEND_CONFIG_PATH, authorized=False,
                                  expect="service discovery")
        if response.status_code in (404, 405) or "json" not in response.headers.get(
                "content-type", ""):
            return Endpoints(url, url, "", False)
        server.check(response, "service discovery")
        try:
            config = FrontendConfig.from_json(response.json())
        except ValueError:
            return Endpoints(url, url, "", False)
        except ProtocolError as exc:
            raise RemoteError(f"the remote at {server.host}: {exc.message}") from None
    return Endpoints(config.builder_url, config.library_url, config.token_url, True)


def websocket_url(http_url: str) -> str:
    """`ws://` for `http://`, `wss://` for `https://` (scs-build-client `client/output.go`)."""
    parts = urlsplit(http_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


class BuilderClient:
    """The builder's API at `base`, with a bearer token (none: only an open server answers)."""

    def __init__(self, base: str, token: str = "") -> None:
        self.server = Server(base, token)
        self._token = token

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> BuilderClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def host(self) -> str:
        return self.server.host

    def version(self) -> str:
        data = self.server.data(self.server.request("GET", VERSION_PATH, expect="version"),
                                "version")
        version = data.get("version") if isinstance(data, dict) else None
        return version if isinstance(version, str) else ""

    def token_status(self, token_service: str = "") -> str:
        """"valid", "refused" or "unknown" (nowhere to check it)."""
        return self.server.token_status(token_service or None)

    def upload_context(self, archive: ContextArchive) -> bool:
        """Announce the context; upload it when the server gives a Location. False: the server
        already had it (no Location)."""
        announce = ContextUpload(size=archive.size, checksum=archive.checksum)
        response = self.server.request("POST", BUILD_CONTEXT_PATH, json_body=announce.to_json(),
                                       expect="build context")
        self.server.check(response, "announcing the build context")
        location = response.headers.get("location", "")
        if not location:
            return False
        target = urljoin(self.server.base, location)
        # As scs-build-client: the PUT goes without Authorization (the Location is a pre-signed
        # URL that authorises itself), with the exact length.
        try:
            with open(archive.path, "rb") as body:
                put = self.server.http.put(
                    target, content=_chunks(body), timeout=UPLOAD_TIMEOUT,
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Length": str(archive.size)})
        except httpx.HTTPError as exc:
            raise self.server.unreachable(exc, "uploading the build context") from None
        except OSError as exc:
            raise RemoteError(f"cannot read the build context {archive.path}: "
                              f"{exc.strerror}") from None
        self.server.check(put, "uploading the build context")
        return True

    def delete_context(self, checksum: str) -> None:
        """Tell the server the context is no longer needed (best effort)."""
        with contextlib.suppress(RemoteError):
            self.server.request("DELETE", build_context_path(checksum))

    def submit(self, request: BuildRequest) -> BuildInfo:
        response = self.server.request("POST", BUILD_PATH, json_body=request.to_json(),
                                       expect="build submission")
        return self._info(self.server.data(response, "submitting the build"))

    def status(self, build_id: str) -> BuildInfo:
        response = self.server.request("GET", build_status_path(build_id), expect="status")
        return self._info(self.server.data(response, "build status"))

    def wait(self, build_id: str, *, interval: float = 1.0,
             sleep: Callable[[float], None] = time.sleep) -> BuildInfo:
        """Poll the status until the build is complete (after a lost log connection)."""
        while True:
            info = self.status(build_id)
            if info.is_complete:
                return info
            sleep(interval)

    def cancel(self, build_id: str) -> Optional[str]:
        """`PUT v1/build/<id>/_cancel`; returns why it failed, or None."""
        try:
            response = self.server.http.put(self.server.url(build_cancel_path(build_id)),
                                            headers=self.server.auth_headers(),
                                            timeout=CANCEL_TIMEOUT)
        except httpx.HTTPError as exc:
            return self.server.redact(one_line(str(exc))) or type(exc).__name__
        if not response.is_success:
            return f"HTTP {response.status_code}"
        return None

    def stream_log(self, build_id: str, write: Callable[[str], None], *,
                   poll: float = 0.25) -> bool:
        """Copy the build's log (the websocket's text frames) to `write` as it comes. True when
        the server closed it normally (the log is complete), False when the connection was lost
        (the caller polls the status). Ctrl-C (KeyboardInterrupt) is never held up longer than
        `poll` seconds."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        url = websocket_url(self.server.url(build_log_path(build_id)))
        # The scheme as scs-build-client writes it (upper case), for servers that compare it.
        headers = self.server.auth_headers("BEARER")
        try:
            socket = connect(url, additional_headers=headers, user_agent_header=USER_AGENT,
                             open_timeout=10, max_size=None)
        except InvalidStatus as exc:
            self.server.check(_as_response(exc.response.status_code), "build log")
            raise RemoteError(f"the remote builder at {self.host} refused the build log "
                              f"(HTTP {exc.response.status_code})") from None
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise RemoteError(f"cannot reach the remote builder at {self.host} (build log): "
                              f"{self.server.redact(one_line(str(exc))) or type(exc).__name__}"
                              ) from None
        with socket:
            while True:
                try:
                    frame = socket.recv(timeout=poll)
                except TimeoutError:
                    continue
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    return code in _NORMAL_CLOSE
                if isinstance(frame, str):  # binary frames are not log text
                    write(frame)

    def _info(self, data: object) -> BuildInfo:
        try:
            return BuildInfo.from_json(data)
        except ProtocolError as exc:
            raise RemoteError(f"the remote builder at {self.host}: {exc.message}") from None


def _chunks(body: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    """The file's bytes in pieces (a streamed request body)."""
    while chunk := body.read(size):
        yield chunk


def _as_response(status: int) -> httpx.Response:
    return httpx.Response(status)


__all__ = ["BuilderClient", "Endpoints", "discover", "websocket_url"]
