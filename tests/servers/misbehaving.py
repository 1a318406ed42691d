"""Servers that answer badly on purpose: trickling, cut short, endless, redirecting forever.

Each is a raw socket loop on an ephemeral 127.0.0.1 port (http.server would insist on
answering properly). A `Behaviour` gets the request line and the connection and does
its worst; the server counts requests and stops its threads on exit.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from .sockets import RawListener, read_head

Behaviour = Callable[[str, socket.socket, threading.Event], None]
"""(request path, connection, stop) -> None; the connection is closed afterwards."""


class Misbehaving(RawListener):
    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__()
        self.behaviour = behaviour
        self.paths: list[str] = []

    def _handler_for(self, conn: socket.socket) -> Callable[[socket.socket], None]:
        return self._serve

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            while not self._stop.is_set():
                data = read_head(conn)
                if data is None:
                    return
                head = data.split(b"\r\n", 1)[0].decode("latin-1")
                path = head.split(" ")[1] if head.count(" ") >= 2 else "/"
                self.paths.append(path)
                self.behaviour(path, conn, self._stop)


def head(status: str = "200 OK", length: int | None = None, extra: str = "") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def trickle(interval: float, headers_too: bool = False) -> Behaviour:
    """Answers a byte every `interval` seconds: never slow enough to trip a read timeout."""

    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        body = b'{"total_count": 0, "workflow_runs": [], "jobs": [], "items": []}'.ljust(300)
        data = head(length=len(body)) + body
        if not headers_too:
            conn.sendall(data[: len(data) - len(body)])
            data = body
        for byte in data:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return behave


def cut_short(declared: int = 5000) -> Behaviour:
    """Promises `declared` bytes, sends a few and hangs up."""

    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(length=declared) + b'{"jobs": [')
        conn.shutdown(socket.SHUT_RDWR)

    return behave


def endless(declare_length: bool) -> Behaviour:
    """A body that does not stop (up to 1 GB): with a huge Content-Length, or without one."""

    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        block = b" " * 65536
        if declare_length:
            conn.sendall(head(length=1 << 30))
        else:
            conn.sendall(head(extra="Connection: close\r\n"))
        for _ in range((1 << 30) // len(block)):
            if stop.is_set():
                return
            conn.sendall(block)

    return behave


def redirect_loop(status: str = "302 Found", same_path: bool = False) -> Behaviour:
    """Redirects every request to another path on the same server, forever."""
    count = iter(range(1_000_000))

    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        target = path if same_path else f"/loop/{next(count)}/api/json"
        conn.sendall(head(status, length=0, extra=f"Location: {target}\r\n"))

    return behave


def answer(status: str, body: bytes, content_type: str = "text/html") -> Behaviour:
    """Every request gets the same answer (a proxy's 404 page, a login form)."""

    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        lines = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        conn.sendall(f"{lines}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    return behave


@contextlib.contextmanager
def misbehaving(behaviour: Behaviour) -> Iterator[Misbehaving]:
    with Misbehaving(behaviour) as server:
        yield server
