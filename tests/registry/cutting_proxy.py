"""A TCP proxy in front of a registry that drops the connection once in the middle of a blob.

Written by hand for the tests: a pair of socket pumps is all it takes, and the point is a real
connection that breaks (the client sees a short read), not a mocked exception."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Optional


class CuttingProxy:
    def __init__(self, upstream: str, *, cut_after: int = 256 * 1024,
                 ignore_range: bool = False):
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        # Rename the Range header on its way (same length): a server that ignores Range.
        self.ignore_range = ignore_range
        self.cuts = 0
        self._armed_once = False
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: Optional[type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        state = {"cut": False, "budget": -1}

        def requests() -> None:
            try:
                while data := client.recv(65536):
                    with self._lock:
                        if not self._armed_once and b"GET " in data and b"/blobs/sha256:" in data:
                            self._armed_once = True
                            state["budget"] = self.cut_after
                    if self.ignore_range:
                        data = data.replace(b"\r\nRange: ", b"\r\nX-Rng: ")
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                upstream.close()

        threading.Thread(target=requests, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if state["budget"] >= 0:
                    if len(data) >= state["budget"]:
                        client.sendall(data[: state["budget"]])
                        with self._lock:
                            self.cuts += 1
                        break
                    state["budget"] -= len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not just close: the other pump blocks in recv() on these sockets, and
            # a close() alone would not send the FIN until that recv() returned.
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
