"""A TCP front for a stand-in that resets its first connections mid-request, then relays.

A reset while the client is still sending its body is what a load balancer or a
crashing server does; http.server reads the whole body before a handler runs, so it
cannot show it. The front reads the request head and `after_body` bytes of the body,
then closes with SO_LINGER 0 (the client sees a connection reset); connections after
the first `resets` are relayed byte for byte to the stand-in behind it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit

from .sockets import Handler, RawListener, read_head


class ResettingFront(RawListener):
    def __init__(self, backend_url: str, resets: int, after_body: int) -> None:
        super().__init__()
        parts = urlsplit(backend_url)
        self._backend = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.resets_left = resets
        self.after_body = after_body
        self.connections = 0

    def _handler_for(self, conn: socket.socket) -> Handler:
        self.connections += 1
        reset = self.resets_left > 0
        self.resets_left -= reset
        return self._reset if reset else self._relay

    def _reset(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            data = read_head(conn, 65536) or b""
            body = len(data.partition(b"\r\n\r\n")[2])
            while body < self.after_body:
                chunk = conn.recv(min(65536, self.after_body - body))
                if not chunk:
                    break
                body += len(chunk)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _relay(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn, socket.create_connection(self._backend) as up:
            _splice(conn, up)


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    """Relay both ways until each side has finished sending."""
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join(5)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class TunnelProxy(RawListener):
    """An HTTP proxy that only opens CONNECT tunnels (what https:// through a proxy uses),
    keeping each CONNECT request's head; the TLS inside is the client's and the server's."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[str] = []

    def _handler_for(self, conn: socket.socket) -> Handler:
        return self._tunnel

    def _tunnel(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            data = read_head(conn)
            if data is None:
                return
            head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
            self.heads.append(head)
            method, target = head.split(" ")[:2]
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            with socket.create_connection((host.strip("[]"), int(port))) as up:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                conn.settimeout(None)
                _splice(conn, up)
