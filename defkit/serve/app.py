"""The HTTP and websocket endpoints of `defkit serve` (starlette), and the uvicorn server.

Paths and documents come from `defkit.remote.protocol`. Every endpoint but `version`, the service
configuration and the one-time upload URL needs `Authorization: Bearer <token>`; without a valid
token the answer is 401 with the JSON error envelope. What a token made (contexts, builds, their
logs, images) is found only with a token of the same owner; for any other it does not exist (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from defkit import __version__
from defkit.errors import DefkitError
from defkit.remote import protocol
from defkit.serve.builds import BuildManager
from defkit.serve.config import ANONYMOUS, ServeConfig, bearer
from defkit.serve.errors import RequestError, not_found
from defkit.serve.images import ImageStore, StoredImage
from defkit.serve.uploads import ContextStore

#: The largest request body read (a build request or a definition to parse).
MAX_JSON_BODY = 8 * 1024 * 1024
UPLOAD_PATH = "v1/build-context-upload"


class Service:
    """The server's state: its stores, its builds, and the token check."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.contexts = ContextStore(os.path.join(config.store, "contexts"),
                                     config.max_context_size)
        self.images = ImageStore(os.path.join(config.store, "images"))
        self.builds = BuildManager(config, self.images)

    def owner(self, connection: HTTPConnection) -> str:
        if self.config.no_auth:
            return ANONYMOUS
        token = bearer(connection.headers.get("authorization"))
        owner = self.config.tokens.owner_of(token) if token is not None else None
        if owner is None:
            raise RequestError(401, "a valid token is required (Authorization: Bearer TOKEN)")
        return owner


def _base_url(connection: HTTPConnection) -> str:
    return str(connection.base_url).rstrip("/")


def _data(document: Any, status: int = 200, headers: Optional[dict[str, str]] = None
          ) -> JSONResponse:
    return JSONResponse(protocol.envelope(document), status_code=status, headers=headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(protocol.error_envelope(status, message), status_code=status)


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise RequestError(413, "the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_body(request: Request) -> Any:
    body = await _body(request)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "the request body is not JSON") from None


def _service(connection: HTTPConnection) -> Service:
    service: Service = connection.app.state.service
    return service


# --- builder ---------------------------------------------------------------------------------


async def version(request: Request) -> Response:
    info = protocol.VersionInfo(f"defkit {__version__}", protocol.LIBRARY_API_VERSION)
    return _data(info.to_json())


async def frontend_config(request: Request) -> Response:
    base = _base_url(request)
    return JSONResponse(protocol.FrontendConfig(base, base, base).to_json())


async def token_status(request: Request) -> Response:
    _service(request).owner(request)
    return _data(protocol.token_status(True))


async def announce_context(request: Request) -> Response:
    service = _service(request)
    owner = service.owner(request)
    upload = protocol.ContextUpload.from_json(await _json_body(request))
    upload_id = service.contexts.announce(owner, upload)
    if upload_id is None:
        return _data({"checksum": upload.checksum})  # no Location: the server has it
    location = f"{_base_url(request)}/{UPLOAD_PATH}/{upload_id}"
    return _data({"checksum": upload.checksum}, 201, {"Location": location})


async def upload_context(request: Request) -> Response:
    # No Authorization here: the unguessable one-time location is the permission.
    length = request.headers.get("content-length")
    try:
        size = int(length) if length is not None else None
    except ValueError:
        raise RequestError(400, "Content-Length is not a number") from None
    await _service(request).contexts.receive(request.path_params["upload_id"], size,
                                             request.stream())
    return _data({})


async def delete_context(request: Request) -> Response:
    service = _service(request)
    owner = service.owner(request)
    if not service.contexts.delete(owner, request.path_params["checksum"]):
        raise not_found("build context")
    return _data({})


async def convert_def_file(request: Request) -> Response:
    """The raw definition in the body, parsed: its first stage as SingularityCE's parser
    returns one definition (`types.Definition`), or 400 with Apptainer's parse error."""
    from defkit.apptainer_json import deffile_to_json
    from defkit.errors import DefParseError
    from defkit.parser import parse_text

    _service(request).owner(request)
    body = await _body(request)
    try:
        deffile = parse_text(body, "definition")
    except DefParseError as exc:
        raise RequestError(400, exc.format()) from None
    return _data(deffile_to_json(deffile)[0])


async def submit_build(request: Request) -> Response:
    service = _service(request)
    owner = service.owner(request)
    build_request = protocol.BuildRequest.from_json(await _json_body(request))
    context = None
    if build_request.context_checksum:
        context = service.contexts.find(owner, build_request.context_checksum)
        if context is None:
            raise RequestError(404, "build context not found (upload it first)")
    build = service.builds.submit(owner, build_request, context)
    return _data(build.info(_base_url(request)).to_json(), 201)


async def build_status(request: Request) -> Response:
    service = _service(request)
    build = service.builds.get(service.owner(request), request.path_params["build_id"])
    build.last_seen = time.monotonic()
    return _data(build.info(_base_url(request)).to_json())


async def cancel_build(request: Request) -> Response:
    service = _service(request)
    build = service.builds.get(service.owner(request), request.path_params["build_id"])
    service.builds.cancel(build)
    return _data(build.info(_base_url(request)).to_json())


async def build_log(websocket: WebSocket) -> None:
    service = _service(websocket)
    try:
        build = service.builds.get(service.owner(websocket), websocket.path_params["build_id"])
    except RequestError as exc:
        await websocket.send_denial_response(_error(exc.status, exc.message))
        return
    await websocket.accept()
    build.watchers += 1

    async def send_log() -> None:
        async for line in build.follow():
            await websocket.send_text(line + "\n")

    async def until_gone() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    sender = asyncio.create_task(send_log())
    listener = asyncio.create_task(until_gone())
    try:
        await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and sender.exception() is None:
            await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away
    finally:
        for task in (sender, listener):
            task.cancel()
        await asyncio.gather(sender, listener, return_exceptions=True)
        build.watchers -= 1
        build.last_seen = time.monotonic()


# --- library ---------------------------------------------------------------------------------


def _find_image(request: Request) -> tuple[protocol.LibraryRef, str, StoredImage]:
    service = _service(request)
    owner = service.owner(request)
    try:
        ref = protocol.LibraryRef.parse(request.path_params["ref"])
    except DefkitError:
        raise not_found("image") from None
    stored = service.images.find(owner, ref, request.query_params.get("arch", ""))
    if stored is None:
        raise not_found("image")
    return ref, owner, stored


async def image_metadata(request: Request) -> Response:
    ref, owner, stored = _find_image(request)
    return _data(stored.metadata(ref, owner).to_json())


async def image_file(request: Request) -> Response:
    _, _, stored = _find_image(request)
    return FileResponse(_service(request).images.blob(stored.hexdigest),
                        media_type="application/octet-stream")


# --- the application -------------------------------------------------------------------------


async def _request_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return _error(exc.status, exc.message)


async def _protocol_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, DefkitError)
    return _error(400, exc.message)


async def _http_error(request: Any, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


def create_app(service: Service) -> Starlette:
    p = protocol

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        housekeeping = asyncio.create_task(_housekeeping(service))
        try:
            yield
        finally:
            housekeeping.cancel()
            await service.builds.shutdown()

    routes = [
        Route(f"/{p.VERSION_PATH}", version, methods=["GET"]),
        Route(f"/{p.FRONTEND_CONFIG_PATH}", frontend_config, methods=["GET"]),
        Route(f"/{p.TOKEN_STATUS_PATH}", token_status, methods=["GET"]),
        Route(f"/{p.BUILD_CONTEXT_PATH}", announce_context, methods=["POST"]),
        Route(f"/{UPLOAD_PATH}/{{upload_id}}", upload_context, methods=["PUT"]),
        Route("/" + p.build_context_path("{checksum}"), delete_context, methods=["DELETE"]),
        Route(f"/{p.CONVERT_DEF_FILE_PATH}", convert_def_file, methods=["POST"]),
        Route(f"/{p.BUILD_PATH}", submit_build, methods=["POST"]),
        Route("/" + p.build_status_path("{build_id}"), build_status, methods=["GET"]),
        Route("/" + p.build_cancel_path("{build_id}"), cancel_build, methods=["PUT"]),
        WebSocketRoute("/" + p.build_log_path("{build_id}"), build_log),
        Route("/" + p.image_path("{ref:path}"), image_metadata, methods=["GET"]),
        Route("/" + p.imagefile_path("{ref:path}"), image_file, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        RequestError: _request_error, DefkitError: _protocol_error, HTTPException: _http_error})
    app.state.service = service
    return app


async def _housekeeping(service: Service) -> None:
    interval = max(0.2, min(5.0, service.config.idle_timeout / 4 or 5.0))
    last_expiry = 0.0
    while True:
        await asyncio.sleep(interval)
        service.builds.sweep()
        if time.monotonic() - last_expiry > 600:
            last_expiry = time.monotonic()
            await asyncio.to_thread(service.images.expire)


def serve(config: ServeConfig, host: str, port: int, *, log_level: str = "info") -> None:
    """Run the server until SIGTERM or SIGINT; then every build is killed and its work
    directory removed before this returns."""
    import uvicorn

    config.check(host)
    work = os.path.join(config.store, "work")
    if os.path.isdir(work):  # left by a server that was killed: nothing can resume them
        from defkit.engine.sandbox import remove_tree

        for name in os.listdir(work):
            remove_tree(os.path.join(work, name))
    service = Service(config)
    app = create_app(service)

    class Server(uvicorn.Server):
        _loop: Optional[asyncio.AbstractEventLoop] = None

        def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
            # Builds are killed at once, so their websockets end and the shutdown is quick.
            loop = self._loop
            if loop is not None:
                loop.call_soon_threadsafe(service.builds.begin_shutdown)
            super().handle_exit(sig, frame)

        async def serve(self, sockets: Any = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                   access_log=False, timeout_graceful_shutdown=5,
                                   ws="websockets-sansio"))
    server.run()
