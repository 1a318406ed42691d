"""What every HTTP client here gets besides retries: a total deadline and a body cap.

``--timeout`` bounds each socket read, so a server (or proxy) trickling a byte a second
never trips it, and every client read whole bodies into memory. Here each request gets
a total deadline (`request_deadline` of its ``--timeout``, never past the invocation's
``--deadline``) and a body is read in chunks up to ``--max-body``. The limits are
installed through the libraries' own hooks: a requests `HTTPAdapter` (PyGithub and
python-jenkins use requests) and an httpx transport (`transport_httpx`, imported by the
CircleCI client alone: other runs never pay for importing httpx), so no client writes
its own loop.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import requests
from requests import exceptions as req_exc
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as u3_exc
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import UserError
from .retry import invocation_remaining

DEFAULT_MAX_BODY_MB = 64.0
DEADLINE_PER_TIMEOUT = 10
"""A request may take this many ``--timeout``s in total (reads, waits between bytes)."""
_CHUNK = 64 * 1024


def http_url(option: str, text: str) -> urllib.parse.SplitResult:
    """`text` as an http(s) URL with a host and a valid port, or one line naming `option`."""
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  # raises on a port out of range or not a number
    except ValueError as exc:
        raise UserError(f"{option} {text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{option} {text!r} is not an http(s) URL")
    return parts


def request_deadline(timeout: float) -> float:
    """Seconds one request may take from first byte sent to last byte read."""
    return max(timeout * DEADLINE_PER_TIMEOUT, 1.0)


# ---- the deadline of one request -------------------------------------------------------


class Deadline:
    """One request's total time: sockets it uses are shut down when it passes."""

    def __init__(self, seconds: float) -> None:
        left = max(invocation_remaining(), 0.0)
        self.by_invocation = left < seconds
        """The invocation's ``--deadline`` comes first, not this request's own."""
        self.seconds = min(seconds, left)
        self.expires = time.monotonic() + self.seconds
        self.expired = False
        self.done = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def track(self, connection: Any) -> None:
        """Remember a connection this request uses; refuse new ones once expired."""
        with self._lock:
            if self.expired or self.remaining() <= 0:
                self.expired = True
                raise u3_exc.ProtocolError("the request's deadline passed")
            self._connections.append(connection)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            for connection in self._connections:
                sock = getattr(connection, "sock", None)
                if isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):  # already closed
                        # the plain socket's shutdown, not SSLSocket's: a reader in another
                        # thread then sees end-of-stream and fails at once
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._connections.clear()  # it may wait in the watchdog's heap a while


class _Watchdog:
    """One thread that expires deadlines, shared by every client of the process."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        """Wake the thread only for a deadline earlier than every one it waits for.

        Requests mostly share one timeout, so a new deadline is the latest: waking the
        thread for it (a thread switch per request) cost as much CPU as the request.
        Finished deadlines at the front are dropped here, as the thread does when it
        wakes: it sleeps until the earliest, so a 1,000-request backfill would otherwise
        keep a thousand finished deadlines for the cyclic collector to walk, and memory
        would grow with every request made within one timeout.
        """
        with self._cond:
            heap = self._heap
            while heap and heap[0][2].done:
                heapq.heappop(heap)
            earliest = not heap or deadline.expires < heap[0][0]
            heapq.heappush(heap, (deadline.expires, id(deadline), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            if earliest:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and (self._heap[0][2].done):
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, deadline = heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()
_current = threading.local()


@contextlib.contextmanager
def deadline_scope(seconds: float) -> Iterator[Deadline]:
    """Connections used by this thread inside the block are cut when `seconds` pass."""
    deadline = Deadline(seconds)
    outer = getattr(_current, "deadline", None)
    _current.deadline = deadline
    if math.isfinite(deadline.expires):
        _WATCHDOG.watch(deadline)
    try:
        yield deadline
    finally:
        deadline.finish()
        _current.deadline = outer


class DeadlinePassed(req_exc.Timeout):
    """The request did not finish within its total deadline (a trickling server)."""


class BodyTooLarge(req_exc.RequestException):
    """The answer was larger than ``--max-body``: cut off, not read into memory."""


# ---- requests (PyGithub, python-jenkins) -----------------------------------------------


def track(connection: Any) -> Any:
    """Hand `connection` to the current request's deadline (if any), which cuts it."""
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.track(connection)
    return connection


class TrackedHTTPPool(HTTPConnectionPool):
    """Hands each connection it lends to the current request's deadline.

    The connection classes stay urllib3's (so recorders such as vcrpy still see them).
    """

    def _get_conn(self, timeout: float | None = None) -> Any:
        return track(super()._get_conn(timeout))


class TrackedHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return track(super()._get_conn(timeout))


class LimitedAdapter(HTTPAdapter):
    """A requests adapter whose every request has a total deadline and a body cap."""

    def __init__(self, timeout: float, max_body: int, **kwargs: Any) -> None:
        self.total_seconds = request_deadline(timeout)
        self.max_body = max_body
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": TrackedHTTPPool,
            "https": TrackedHTTPSPool,
        }

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        with total_deadline(self.total_seconds):
            response = super().send(request, stream=stream, **kwargs)
            if not stream:
                _read_capped(response, self.max_body)
        return response


@contextlib.contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """`deadline_scope` for one requests-style request: once the deadline has passed, its
    failure (a connection cut by the watchdog) or late success is `DeadlinePassed`."""
    with deadline_scope(seconds) as deadline:
        try:
            yield deadline
        except req_exc.RequestException as exc:
            if deadline.expired:
                raise DeadlinePassed(late(deadline)) from exc
            raise
        if deadline.expired:
            raise DeadlinePassed(late(deadline))


def late(deadline: Deadline) -> str:
    """Why `deadline` ended a request, for `DeadlinePassed`."""
    if deadline.by_invocation:
        return "no complete answer before this invocation's --deadline"
    return f"no complete answer within {deadline.seconds:g}s"


def too_large(limit: int) -> str:
    return f"answer larger than --max-body {limit / 1_048_576:g} MB"


def _read_capped(response: requests.Response, limit: int) -> None:
    """Read the body now, in chunks, refusing more than `limit` bytes."""
    response._content = read_capped(response.raw, limit)
    response._content_consumed = True  # type: ignore[attr-defined]


def read_capped(raw: Any, limit: int) -> bytes:
    """A urllib3 response's whole (decoded) body; more than `limit` bytes is refused
    (`BodyTooLarge`) and the connection dropped, not read into memory. A body that says
    its length (checked against `limit` first) is read at once, any other in chunks."""
    headers = raw.headers
    length = headers.get("content-length", "")
    declared = length.isascii() and length.isdigit()  # not "²", which str.isdigit takes
    if declared and int(length) > limit:
        _drop(raw)
        raise BodyTooLarge(too_large(limit))
    chunks: list[bytes] = []
    size = 0
    try:
        if (  # the usual answer: exactly as long as it says, so read at once
            declared
            and headers.get("content-encoding", "identity") == "identity"
            and "transfer-encoding" not in headers
        ):
            whole: bytes = raw.read(decode_content=False)
            return whole
        for chunk in raw.stream(_CHUNK, decode_content=True):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    except u3_exc.ProtocolError as exc:
        raise req_exc.ChunkedEncodingError(exc) from exc
    except u3_exc.DecodeError as exc:
        raise req_exc.ContentDecodingError(exc) from exc
    except (u3_exc.ReadTimeoutError, u3_exc.SSLError, OSError) as exc:
        raise req_exc.ConnectionError(exc) from exc
    if size > limit:
        _drop(raw)
        raise BodyTooLarge(too_large(limit))
    return b"".join(chunks)


def _drop(raw: Any) -> None:
    """Close an answer that will not be read (as `requests.Response.close` does)."""
    raw.close()
    release = getattr(raw, "release_conn", None)
    if release is not None:
        release()


def limit_session(session: requests.Session, adapter: LimitedAdapter) -> None:
    session.mount("http://", adapter)
    session.mount("https://", adapter)
