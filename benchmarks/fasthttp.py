"""A small, fast HTTP/1.1 server for the benchmarks: asyncio, keep-alive, TCP_NODELAY.

The test suite's `LoopbackServer` (stdlib ``ThreadingHTTPServer``) parses headers with
``email.parser``, keeps every request (body included) in a list and writes headers and
body separately: fine for tests, but over tens of thousands of requests the server
itself would become what is measured. Here a request costs a split of the header block
and one ``write``; handlers are the same ``Request -> Reply`` functions the test
servers use, so their routing and data model are reused unchanged.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from http import HTTPStatus

from tests.servers.base import Reply, Request

Handler = Callable[[Request], Reply]
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _Protocol(asyncio.Protocol):
    def __init__(self, handle: Handler, delay: float = 0.0) -> None:
        self.handle = handle
        self.delay = delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = [*head[0].split(" ", 2), "", ""][:3]
            request = Request(method, path, headers, body)
            if self.delay:  # latency mode: answer late without holding up other connections
                asyncio.get_running_loop().call_later(self.delay, self._answer, request)
            else:
                self._answer(request)

    def _answer(self, request: Request) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # the client hung up while the answer was delayed
        reply = self.handle(request)
        lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}"]
        headers = {"Content-Type": "application/json", **reply.headers}
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(reply.body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(payload + (reply.body if request.method != "HEAD" else b""))
        if request.headers.get("connection", "").lower() == "close":
            self.transport.close()
            self.transport = None


async def serve(handle: Handler, port: int = 0, delay_ms: int = 0) -> asyncio.Server:
    """Listen on 127.0.0.1 (`port` 0: any free port); the caller runs the loop.

    `delay_ms` answers every request that much late (the latency benchmark): requests
    on other connections are served meanwhile, as a real API's would be.
    """
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _Protocol(handle, delay_ms / 1000), "127.0.0.1", port, backlog=128
    )


def server_url(server: asyncio.Server) -> str:
    host, port = server.sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"
