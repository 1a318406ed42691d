"""A GET's first try (`firsttry.FirstTry`) against urllib3's ``urlopen`` doing all of it.

Each case runs twice against the same scripted raw server: with the first try sent
straight, and with every try through urllib3. Everything observable must match: the
bytes each request put on the wire, how many connections were opened, and what two GETs
in a row returned or raised (exception class and message, with addresses and ports
taken out). Cases cover answers the first try reads itself and every way it hands over
to urllib3: failures before an answer, statuses the retries repeat, bodies framed
otherwise, requests it would send differently.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from requests import utils as req_utils

from ci_collector.pooled import PooledGetter
from ci_collector.sources.github.client import transient_retries
from ci_collector.transport import LimitedAdapter
from ci_collector.unreachable import never_connected, untrusted_certificate
from tests.hardening.test_tls import tls, tls_folder
from tests.servers.sockets import RawListener, read_head

__all__ = ["tls", "tls_folder"]  # fixtures shared with test_tls.py

Step = Callable[[socket.socket], bool]
"""Answers one request on its connection; False: the connection is then closed."""

TARGET = "/repos/o/n/actions/runs?per_page=100&page=2"
HEADERS = {
    **req_utils.default_headers(),
    "Accept": "application/vnd.github+json",
    "Authorization": "token not-a-real-one",
    "User-Agent": "ci-collector/test",
}


class Scripted(RawListener):
    """Answers the n-th request with the n-th step (the last one repeats); records every
    request's bytes and counts connections."""

    def __init__(self, steps: list[Step], tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.steps = steps
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = threading.Event()
        """Set when the server has closed a connection."""
        self._lock = threading.Lock()

    def _handler_for(self, conn: socket.socket) -> Callable[[socket.socket], None]:
        self.connections += 1
        return self._serve

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self._stop.is_set():
                data = read_head(conn)
                if data is None:
                    return
                with self._lock:
                    self.requests.append(data)
                    step = self.steps[min(len(self.requests), len(self.steps)) - 1]
                if not step(conn):
                    break
        self.closed.set()


def answer(
    status: str = "200 OK", body: bytes = b"[1]", *, headers: str = "", length: bool = True
) -> Step:
    def step(conn: socket.socket) -> bool:
        framing = f"Content-Length: {len(body)}\r\n" if length else ""
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{framing}{headers}\r\n"
        conn.sendall(head.encode("latin-1") + body)
        return "connection: close" not in headers.lower()

    return step


def chunked(body: bytes) -> Step:
    def step(conn: socket.socket) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
        conn.sendall(head + b"\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        return True

    return step


def raw(data: bytes, keep: bool = False) -> Step:
    def step(conn: socket.socket) -> bool:
        conn.sendall(data)
        return keep

    return step


def hang_up(conn: socket.socket) -> bool:
    return False


def reset(conn: socket.socket) -> bool:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def silent(seconds: float) -> Step:
    def step(conn: socket.socket) -> bool:
        threading.Event().wait(seconds)
        return False

    return step


def getter(
    url: str,
    *,
    direct: bool,
    timeout: float = 2.0,
    limit: int = 10_000,
    verify: bool | str = True,
) -> PooledGetter:
    """A getter with the GitHub client's retries (no pause between tries)."""
    retries = transient_retries(60, base=0)
    adapter = LimitedAdapter(timeout, limit, max_retries=retries)
    return PooledGetter(url, adapter, timeout=timeout, verify=verify, proxies={}, direct=direct)


def _plain(text: str, port: int) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", text).replace(str(port), "PORT")


def run(
    steps: list[Step],
    *,
    direct: bool,
    target: str = TARGET,
    headers: Mapping[str, str] = HEADERS,
    gets: int = 2,
    tls: ssl.SSLContext | None = None,
    **options: Any,
) -> tuple[list[tuple[Any, ...]], list[str], int, int]:
    """What `gets` GETs in a row returned or raised, the requests' bytes, connections,
    and how many of the GETs urllib3's ``urlopen`` was asked to send."""
    with Scripted(steps, tls) as server:
        port = int(server.url.rsplit(":", 1)[1])
        url = server.url.replace("http://", "https://") if tls else server.url
        client = getter(url, direct=direct, **options)
        pool = client._connection_pool()
        urlopen = pool.urlopen
        asked: list[int] = []
        depth = [0]

        def counted(*args: Any, **kwargs: Any) -> Any:
            if not depth[0]:  # urlopen calls itself for each retry: count the outer call
                asked.append(1)
            depth[0] += 1
            try:
                return urlopen(*args, **kwargs)
            finally:
                depth[0] -= 1

        pool.urlopen = counted
        outcomes: list[tuple[Any, ...]] = []
        for _ in range(gets):
            try:
                status, received, body = client.get(target, headers)
                received.pop("date", None)
                outcomes.append(("answer", status, received, body))
            except Exception as exc:  # every failure is compared, class and words
                cause = _plain(repr(exc.__cause__), port)
                outcomes.append(
                    (
                        "error",
                        type(exc).__name__,
                        _plain(str(exc), port),
                        cause,
                        never_connected(exc),
                        untrusted_certificate(exc),
                    )
                )
        client.close()
        sent = [_plain(request.decode("latin-1"), port) for request in server.requests]
        return outcomes, sent, server.connections, len(asked)


CASES: dict[str, tuple[list[Step], bool]] = {
    # name: (script, whether the first try reads the answers itself)
    "plain answers on one connection": ([answer()], True),
    "an empty 200": ([answer(body=b"")], True),
    "a 304 without a length": ([answer("304 Not Modified", b"", length=False)], True),
    "a 204": ([answer("204 No Content", b"", length=False)], True),
    "a 404 is an answer": ([answer("404 Not Found", b'{"message": "Not Found"}')], True),
    "repeated headers joined": ([answer(headers="Link: <a>\r\nLink: <b>\r\n")], True),
    "an answer that closes": ([answer(headers="Connection: close\r\n")], True),
    "says it closes, stays open": (
        [raw(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n[]", keep=True)],
        True,
    ),
    "HTTP/1.0 without keep-alive": ([raw(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]")], True),
    "a 500 then a 200": ([answer("500 Oops", b"{}"), answer()], False),
    "503 every time": ([answer("503 Busy", b"{}", headers="Retry-After: 0\r\n")], False),
    "a 502 without a length": ([answer("502 Bad", b"", headers="Connection: close\r\n")], False),
    "chunked": ([chunked(b'{"a": 1}')], False),
    "gzip": ([answer(body=gzip.compress(b"[2]"), headers="Content-Encoding: gzip\r\n")], False),
    "no length, closed": ([answer(length=False, headers="Connection: close\r\n")], False),
    "a length twice": ([answer(body=b"[1]", headers="Content-Length: 3\r\n")], False),
    "lengths that disagree": ([answer(body=b"[1]", headers="Content-Length: 4\r\n")], False),
    "a folded header": ([answer(headers="X-Folded: one\r\n two\r\n")], False),
    "hung up without answering": ([hang_up], False),
    "hung up once, then an answer": ([hang_up, answer()], False),
    "reset before answering": ([reset], False),
    "reset once, then an answer": ([reset, answer()], False),
    "not HTTP": ([raw(b"HELLO THERE\r\n\r\n")], False),
    "a status line only": ([raw(b"HTTP/1.1 200 OK\r\n")], False),
    "a body cut short": ([raw(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n[1,")], True),
    "a body beyond the cap": ([answer(body=b" " * 20_000)], True),
    "a body beyond the cap, undeclared": (
        [answer(body=b" " * 20_000, length=False, headers="Connection: close\r\n")],
        False,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_the_first_try_does_what_urllib3_does(name: str) -> None:
    steps, read_here = CASES[name]
    straight = run(steps, direct=True)
    through = run(steps, direct=False)
    assert straight[:3] == through[:3]
    assert through[3] == 2  # the reference sent both GETs through urlopen
    if read_here:
        assert straight[3] == 0  # and the first try really did the work here


def test_a_read_timeout_is_retried_as_urllib3_retries_it() -> None:
    steps = [silent(1.0), answer()]
    straight = run(steps, direct=True, gets=1, timeout=0.3)
    through = run(steps, direct=False, gets=1, timeout=0.3)
    assert straight[:3] == through[:3]
    assert straight[0][0][0] == "answer"
    assert len(straight[1]) == 2  # the silent try, then the retried one


def test_a_refused_connection_fails_as_urllib3_fails_it() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()  # nothing listens there now
    outcomes = []
    for direct in (True, False):
        client = getter(url, direct=direct)
        with pytest.raises(Exception) as caught:
            client.get(TARGET, HEADERS)
        client.close()
        outcomes.append(
            (type(caught.value), _plain(str(caught.value), 0), never_connected(caught.value))
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] is True


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/repos/o/n/actions/runs?created=%3e2026", HEADERS),  # urllib3 upper-cases %3e
        ("/repos/o/n/runs?q=a b", HEADERS),  # and quotes the space
        ("/repos/o/n/runs#frag", HEADERS),  # and drops a fragment
        (TARGET, {k: v for k, v in HEADERS.items() if k != "User-Agent"}),  # adds its own
        (TARGET, {k: v for k, v in HEADERS.items() if k != "Accept-Encoding"}),  # identity
        (TARGET, {**HEADERS, "Host": "elsewhere.example"}),
        (TARGET, {**HEADERS, "X-Name": "caf\u00e9"}),  # Latin-1: sent as one byte
    ],
)
def test_a_request_urllib3_would_write_otherwise_goes_through_it(
    target: str, headers: dict[str, str]
) -> None:
    straight = run([answer()], direct=True, target=target, headers=headers)
    through = run([answer()], direct=False, target=target, headers=headers)
    assert straight[:3] == through[:3]
    if "X-Name" in headers:
        assert straight[3] == 0  # Latin-1 is a header http.client sends as it is
    else:
        assert straight[3] == 2


def test_headers_http_client_refuses_are_refused_the_same_way() -> None:
    bad = {**HEADERS, "X-Bad": "one\ntwo"}
    outcomes = [run([answer()], direct=direct, headers=bad, gets=1)[0] for direct in (True, False)]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][0] == "error"


def test_a_kept_alive_connection_the_server_closed_is_not_a_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server hangs up after each answer, unannounced: the idle socket is seen
    closed before the next GET, which opens a new connection without a failed try."""
    closing = answer()
    with Scripted([lambda conn: closing(conn) and False]) as server:
        client = getter(server.url, direct=True)
        caplog.set_level("DEBUG", logger="urllib3")
        first = client.get(TARGET, HEADERS)
        assert server.closed.wait(5)
        second = client.get(TARGET, HEADERS)
        client.close()
    assert first[0] == second[0] == 200
    assert (len(server.requests), server.connections) == (2, 2)
    assert "Resetting dropped connection" in caplog.text
    assert "Retrying" not in caplog.text


@pytest.mark.parametrize("trust", ["the bundle", "nothing", "insecure"])
def test_over_tls_the_first_try_does_what_urllib3_does(
    tls: ssl.SSLContext, tls_folder: Path, trust: str
) -> None:
    """Connecting and the handshake are the pool's own: a trusted server is read here, a
    refused certificate fails as urllib3 fails it, and no verification warns as it warns."""
    verify: bool | str = {"the bundle": str(tls_folder / "cert.pem"), "nothing": True}.get(
        trust, False
    )
    outcomes = []
    for direct in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = run([answer()], direct=direct, tls=tls, verify=verify)
        kinds = [type(warning.message).__name__ for warning in caught]
        outcomes.append((outcome, [kind for kind in kinds if kind != "ResourceWarning"]))
    assert outcomes[0][0][:3] == outcomes[1][0][:3]
    assert outcomes[0][1] == outcomes[1][1]
    straight, warned = outcomes[0]
    if trust == "nothing":
        assert straight[0][0][0] == "error" and straight[0][0][5] is not None
    else:
        assert straight[0][0][0] == "answer" and straight[3] == 0
    assert warned == (["InsecureRequestWarning"] * 2 if trust == "insecure" else [])


def test_a_length_in_other_digits_is_read_to_the_end_both_ways() -> None:
    """``Content-Length: ²`` (Latin-1 0xB2): `str.isdigit` takes it, `int` does not.
    The body is read until the server closes, as http.client reads it."""
    steps = [raw(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\nConnection: close\r\n\r\n[1]")]
    straight = run(steps, direct=True, gets=1)
    through = run(steps, direct=False, gets=1)
    assert straight[:3] == through[:3]
    assert straight[0] == [
        ("answer", 200, {"content-length": "\xb2", "connection": "close"}, b"[1]")
    ]
