"""Raw TCP stand-ins: a listener on an ephemeral 127.0.0.1 port, a thread per connection.

For servers that must misbehave below HTTP (reset mid-body, trickle, tunnel), which
http.server would not let them do.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Self

Handler = Callable[[socket.socket], None]


class RawListener:
    """Accepts until closed; `_handler_for` (on the accepting thread, in arrival order)
    picks what serves each connection, in a thread of its own."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            handler = self._handler_for(conn)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    def _handler_for(self, conn: socket.socket) -> Handler:
        raise NotImplementedError


def read_head(conn: socket.socket, chunk: int = 4096) -> bytes | None:
    """Bytes up to and past the end of a request head (what one recv brought); None if the
    client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        received = conn.recv(chunk)
        if not received:
            return None
        data += received
    return data
