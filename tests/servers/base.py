"""A threaded loopback HTTP server with a per-test handler and a request log."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received: float = field(default_factory=time.monotonic)  # when it arrived, for pacing checks


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


Handler = Callable[[Request], Reply]
Intercept = Callable[[Request, Callable[[], Reply]], Reply]
"""A fault hook: sees each request and a thunk giving the real answer; returns what to send.

It may answer instead of the server (a 503, a drop), or call the thunk and spoil the
result (truncate the body, delay it, drop it after the server acted on the request).
"""


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (killed, timed out) is expected here, not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Serves `handle(request) -> Reply` on an ephemeral 127.0.0.1 port, in a thread."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.intercept: Intercept | None = None
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with server._lock:
                    server.requests.append(request)
                intercept = server.intercept
                if intercept is None:
                    reply = server.handle(request)
                else:
                    reply = intercept(request, lambda: server.handle(request))
                if reply.delay:
                    threading.Event().wait(reply.delay)
                if reply.drop:  # shut down, not just close: rfile/wfile keep the socket open
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _serve

        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
