"""The Trunk sink's own HTTP path (http.client; urllib3 through a proxy) against real
loopback servers: TLS as it was with httpx, kept-alive connections, and every way a POST
can fail without an answer retried under one name."""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import select
import socket
import ssl
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from ci_collector.posting import Poster
from ci_collector.sinks import DeliveryFailed, TrunkRefused, TrunkSink
from ci_collector.tls import tls_context
from tests.delivery import harness
from tests.delivery.harness import good, run
from tests.hardening.test_tls import serve_tls, tls, tls_folder
from tests.runs import make_run
from tests.servers.base import Reply
from tests.servers.front import ResettingFront, TunnelProxy
from tests.servers.misbehaving import head, misbehaving, trickle
from tests.servers.sockets import RawListener, read_head
from tests.servers.trunk import PATH, TOKEN, TrunkStandIn
from tests.test_sink_trunk import chain_of

__all__ = ["tls", "tls_folder"]  # fixtures shared with test_tls.py


def sink_for(url: str, tmp_path: Path, **options: Any) -> TrunkSink:
    settings: dict[str, Any] = {
        "dead_letter_path": tmp_path / "dead.jsonl",
        "timeout": 2.0,
        "retry_budget": 3.0,
        "backoff_base": 0.01,
        "backoff_cap": 0.02,
    }
    settings.update(options)
    return TrunkSink(TOKEN, url, **settings)


def deliver(sink: TrunkSink, runs: int = 1) -> int:
    """Send `runs` runs as one body; how many chains were acknowledged."""
    try:
        acks = [ack for i in range(runs) for ack in sink.add(chain_of(make_run(i + 1)))]
        acks += sink.flush()
    finally:
        sink.close()
    return sum(not ack.refused for ack in acks)


# ---- TLS -------------------------------------------------------------------------------


@pytest.fixture
def tls_trunk(tls: ssl.SSLContext) -> Any:
    trunk = TrunkStandIn()
    url = serve_tls(trunk.server, tls)
    with trunk.server:
        yield trunk, url


def test_an_untrusted_certificate_is_one_line_at_once(tls_trunk: Any, tmp_path: Path) -> None:
    trunk, url = tls_trunk
    waits: list[float] = []
    with pytest.raises(TrunkRefused) as refused:
        deliver(sink_for(url, tmp_path, sleep=waits.append))
    assert str(refused.value) == (
        f"the TLS certificate of Trunk at {url}{PATH} was not accepted (self-signed "
        "certificate); pass its CA with --trunk-ca-bundle (--insecure is for the CI platform)"
    )
    assert waits == [] and trunk.server.requests == []


@pytest.mark.parametrize("how", ["ca-bundle context", "SSL_CERT_FILE", "insecure"])
def test_a_trusted_or_unverified_certificate_delivers_without_warnings(
    tls_trunk: Any, tls_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    trunk, url = tls_trunk
    verify: bool | ssl.SSLContext = True
    if how == "ca-bundle context":  # what --trunk-ca-bundle passes
        verify = ssl.create_default_context(cafile=str(tls_folder / "cert.pem"))
    elif how == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_folder / "cert.pem"))
    else:
        verify = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert deliver(sink_for(url, tmp_path, verify=verify), runs=2) == 2
    assert [str(w.message) for w in caught] == []  # httpx never warned; nor does urllib3 now
    assert len(trunk.events) > 0


def test_the_host_name_is_checked_unless_verification_is_off(
    tls_trunk: Any, tls_folder: Path, tmp_path: Path
) -> None:
    trunk, url = tls_trunk
    by_name = url.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    trusting = ssl.create_default_context(cafile=str(tls_folder / "cert.pem"))
    with pytest.raises(TrunkRefused, match=r"not accepted \(Hostname mismatch"):
        deliver(sink_for(by_name, tmp_path, verify=trusting))
    assert trunk.server.requests == []
    assert deliver(sink_for(by_name, tmp_path, verify=False)) == 1


# ---- failures without an answer: retried, named in the log --------------------------------


@pytest.mark.parametrize("after_body", [0, 4096, 60_000])
def test_a_connection_reset_while_sending_is_retried(
    trunk: TrunkStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture, after_body: int
) -> None:
    caplog.set_level(logging.WARNING)
    with ResettingFront(trunk.url, resets=2, after_body=after_body) as front:
        sink = sink_for(front.url, tmp_path, batch_events=1000)
        assert deliver(sink, runs=40) == 40  # a body of about 100 kB
    assert sink.stats.retries == 2 and front.connections == 3
    assert caplog.text.count("Trunk upload failed (ConnectionDropped)") == 2
    assert trunk.posts == 1 and max(trunk.deliveries.values()) == 1


def test_an_answer_later_than_the_timeout_is_retried_and_the_body_sent_again(
    trunk: TrunkStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    trunk.faults.append(Reply(200, delay=1.0))  # stored, then answered too late
    sink = sink_for(trunk.url, tmp_path, timeout=0.3)
    assert deliver(sink, runs=3) == 3
    assert "Trunk upload failed (ReadTimeout)" in caplog.text
    assert sink.stats.retries == 1 and trunk.posts == 2
    assert set(trunk.deliveries.values()) == {2} and trunk.conflicts == []  # identical bytes


def test_an_answer_that_stalls_midway_is_retried_until_the_budget_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    def stall(path: str, conn: Any, stop: threading.Event) -> None:
        conn.sendall(head(length=100) + b'{"ok":')
        stop.wait(3)

    with misbehaving(stall) as server:
        sink = sink_for(server.url, tmp_path, timeout=0.2, retry_budget=0.6)
        with pytest.raises(DeliveryFailed, match=r"attempts \(ReadTimeout\)"):
            deliver(sink)
        assert len(server.paths) >= 2
    assert "Trunk upload failed (ReadTimeout); retry 1" in caplog.text


@pytest.mark.parametrize("where", ["unknown host", "refused"])
def test_no_connection_at_all_is_retried_as_a_connect_error(
    tmp_path: Path, refused_url: str, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    caplog.set_level(logging.WARNING)
    url = "http://trunk-stand-in.invalid:8080" if where == "unknown host" else refused_url
    with pytest.raises(DeliveryFailed, match=r"attempts \(ConnectError\)"):
        deliver(sink_for(url, tmp_path, retry_budget=0.3))
    assert "Trunk upload failed (ConnectError); retry 1" in caplog.text


# ---- https:// through a proxy: a CONNECT tunnel ------------------------------------------


def connect_head(head: str) -> tuple[str, str | None]:
    """The request line (without the HTTP version: Python's http.client says 1.0 where
    httpx says 1.1, and proxies take both) and Proxy-Authorization of a CONNECT head."""
    lines = head.split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    auth = {k.lower(): v for k, v in fields.items()}.get("proxy-authorization")
    return lines[0].rpartition(" ")[0], auth


@pytest.mark.parametrize("credentials", ["", "tunnel-user:tunnel-s3cret@"])
def test_https_goes_through_the_proxy_in_a_tunnel_as_with_httpx(
    tls_trunk: Any,
    tls_folder: Path,
    tmp_path: Path,
    no_proxies: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    credentials: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    trunk, url = tls_trunk
    trusting = ssl.create_default_context(cafile=str(tls_folder / "cert.pem"))
    with TunnelProxy() as proxy:
        no_proxies.setenv("HTTPS_PROXY", proxy.url.replace("://", f"://{credentials}"))
        assert deliver(sink_for(url, tmp_path, verify=trusting)) == 1
        httpx.post(url + PATH, content=b"{}", verify=trusting)
    assert len(trunk.events) > 0
    ours, theirs = (connect_head(head) for head in proxy.heads)
    assert ours == theirs and ours[0] == f"CONNECT {url.removeprefix('https://')}"
    assert (ours[1] is not None) == bool(credentials)
    assert "tunnel-s3cret" not in caplog.text


# ---- a POST ends at its total deadline, as every platform request does --------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickling_trunk_ends_the_post_at_ten_timeouts(tmp_path: Path, headers_too: bool) -> None:
    """A byte every 0.05 s never trips a 0.15 s read timeout; the whole answer (~300
    bytes) would take 15 s. Each attempt is cut at 1.5 s, and the sink gives up."""
    with misbehaving(trickle(0.05, headers_too=headers_too)) as server:
        sink = sink_for(server.url, tmp_path, timeout=0.15, retry_budget=0.5)
        started = time.monotonic()
        with pytest.raises(DeliveryFailed, match=r"\(no complete answer within 1\.5s\)"):
            deliver(sink)
        took = time.monotonic() - started
    assert took < 10, took


def test_the_invocation_deadline_ends_a_trickling_post(
    no_proxies: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_proxies.setenv("CI_COLLECTOR_RETRY_BASE", "0.01")
    with misbehaving(trickle(0.2)) as server:
        harness.RUNS[:] = [good(1)]
        started = time.monotonic()
        result = run(
            "tiny",
            "--state",
            str(tmp_path / "state.sqlite"),
            "--timeout",
            "30",
            "--deadline",
            "1",
            env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": server.url},
        )
        took = time.monotonic() - started
    assert result.code == 75, result.err
    assert result.lines[-1].endswith(
        "(no complete answer before this invocation's --deadline); nothing was marked "
        "delivered, run again later"
    ), result.err
    assert took < 8, took


# ---- kept-alive connections (http.client, no proxy) -------------------------------------


def test_bodies_share_one_kept_alive_connection(trunk: TrunkStandIn, tmp_path: Path) -> None:
    with ResettingFront(trunk.url, resets=0, after_body=0) as front:
        sink = sink_for(front.url, tmp_path, batch_events=5)
        assert deliver(sink, runs=6) == 6
    assert trunk.posts > 3 and front.connections == 1
    assert sink.stats.retries == 0


class _AnswersOncePerConnection(RawListener):
    """Answers one POST per connection like Trunk, then closes it without saying so (as a
    server whose keep-alive timeout passed between two bodies does)."""

    def __init__(self, encoding: str = "") -> None:
        super().__init__()
        self.connections = 0
        self.encoding = encoding

    def _handler_for(self, conn: socket.socket) -> Any:
        self.connections += 1
        return self._answer

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            head = read_head(conn, 65536) or b""
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            body = head.partition(b"\r\n\r\n")[2]
            while len(body) < length:
                body += conn.recv(65536)
            answer = b'{"status":"ok"}'
            extra = b""
            if self.encoding:
                answer = gzip.compress(answer)
                extra = f"Content-Encoding: {self.encoding}\r\n".encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + extra
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            time.sleep(0.05)  # closed after the answer is read, before the next body


def test_a_connection_the_server_closed_while_idle_is_not_reused(tmp_path: Path) -> None:
    with _AnswersOncePerConnection() as server:
        sink = sink_for(server.url, tmp_path, batch_events=20)
        for number in range(3):  # one body each, with a pause for the server to close
            assert sink.add(chain_of(make_run(number + 1))) == []
            assert [ack.refused for ack in sink.flush()] == [False]
            time.sleep(0.2)
        sink.close()
    assert server.connections == 3
    assert sink.stats.retries == 0  # a new connection at once, not a failed POST


def test_a_gzipped_answer_is_read_decoded(tmp_path: Path) -> None:
    with _AnswersOncePerConnection(encoding="gzip") as server:
        poster = Poster(server.url + PATH, timeout=2.0, ssl_context=tls_context(True), headers={})
        answer = poster.post(b'{"repo":{},"events":[]}')
        poster.close()
    assert (answer.status_code, answer.content) == (200, b'{"status":"ok"}')
    assert answer.headers["content-encoding"] == "gzip"


def test_without_poll_an_idle_close_is_noticed_by_select(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows has no ``select.poll``: the same check, through ``select.select``."""
    monkeypatch.delattr(select, "poll")
    with _AnswersOncePerConnection() as server:
        sink = sink_for(server.url, tmp_path, batch_events=20)
        for number in range(2):
            assert sink.add(chain_of(make_run(number + 1))) == []
            assert [ack.refused for ack in sink.flush()] == [False]
            time.sleep(0.2)
        sink.close()
    assert server.connections == 2 and sink.stats.retries == 0
