"""The httpx half of `transport`: CircleCI's client gets the same total deadline and body
cap as the requests-based clients, through an httpx transport.

Apart from `transport` so that a GitHub or Jenkins run, which never talks httpx, does
not import it (httpx, httpcore and h11 cost about 0.12 s of CPU at every start).
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

from .tls import tls_context
from .transport import Deadline, _current, deadline_scope, late, request_deadline, too_large


class ResponseTooLarge(httpx.TransportError):
    """httpx's side of `BodyTooLarge`."""


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read waits no longer than the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def _bounded(self, timeout: float | None) -> float | None:
        deadline: Deadline | None = getattr(_current, "deadline", None)
        if deadline is None:
            return timeout
        left = deadline.remaining()
        if left <= 0:
            deadline.expired = True
            raise httpcore.ReadTimeout(late(deadline))
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, self._bounded(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class LimitedTransport(httpx.HTTPTransport):
    """An httpx transport with a total deadline per request and a body cap."""

    def __init__(self, timeout: float, max_body: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.total_seconds = request_deadline(timeout)
        self.max_body = max_body
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):  # httpcore 1.x; else no deadline
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with deadline_scope(self.total_seconds) as deadline:
            try:
                response = super().handle_request(request)
                body = self._read_capped(response)
            except httpx.TimeoutException as exc:
                if deadline.expired or deadline.remaining() <= 0:
                    raise httpx.ReadTimeout(late(deadline), request=request) from exc
                raise
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
            request=request,
        )

    def _read_capped(self, response: httpx.Response) -> bytes:
        try:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body:
                raise ResponseTooLarge(too_large(self.max_body))
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > self.max_body:
                    raise ResponseTooLarge(too_large(self.max_body))
            return bytes(body)
        finally:
            response.close()


def limited_httpx_client(
    timeout: float, max_body: int, *, verify: bool = True, **kwargs: Any
) -> httpx.Client:
    """An `httpx.Client` with ``--timeout`` per read, a total deadline and a body cap."""
    context = tls_context(verify)  # one CA bundle parse per process, not per client
    transport = LimitedTransport(timeout, max_body, verify=context)
    return httpx.Client(timeout=timeout, verify=context, transport=transport, **kwargs)
