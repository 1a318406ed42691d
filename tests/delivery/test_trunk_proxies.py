"""The Trunk sink goes through the proxy the environment names, as it did through httpx.

httpx (still installed: CircleCI and OTLP use it) is the reference: for each setting
of the variables, the sink must pick the proxy httpx's client picks, and a real
forward proxy on 127.0.0.1 must see from the sink what it sees from httpx.
https:// through a proxy (a CONNECT tunnel, with TLS inside) is in
``tests/hardening/test_trunk_transport.py``.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ci_collector.errors import UserError
from ci_collector.posting import proxy_authorization
from ci_collector.proxies import proxy_for
from ci_collector.sinks import DeliveryFailed, TrunkSink
from tests.runs import make_run
from tests.servers.base import LoopbackServer, Reply, Request
from tests.servers.trunk import PATH, TOKEN, TrunkStandIn
from tests.test_sink_trunk import chain_of

PROXY_PASSWORD = "pr0xy-s3cret-pass"


# ---- the choice of proxy, against httpx's ----------------------------------------------

URLS = [
    "http://127.0.0.1:8080/v1/metrics/trackEvents",
    "https://api.trunk.io/v1/metrics/trackEvents",
    "http://api.trunk.io/v1",
    "https://eu.api.trunk.io/v1",
    "https://trunk.io:8443/",
    "https://notrunk.io/",
    "http://localhost:3000/",
    "https://[::1]:8443/",
    "http://10.1.2.3/",
]

ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"HTTP_PROXY": "http://proxy.corp:3128"},
    {"http_proxy": "proxy.corp:3128"},  # no scheme: http://
    {"HTTPS_PROXY": "http://user:pa%40ss@proxy.corp:3128"},
    {"https_proxy": "https://secure.corp"},
    {"ALL_PROXY": "http://all.corp:1080", "HTTPS_PROXY": "http://tls.corp:3128"},
    {"all_proxy": "http://all.corp:1080", "NO_PROXY": "trunk.io"},
    {"HTTPS_PROXY": "http://p.corp:1", "NO_PROXY": ".trunk.io"},
    {"HTTPS_PROXY": "http://p.corp:1", "no_proxy": "api.trunk.io, localhost,127.0.0.1"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "*"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "example.com,*"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "::1,10.0.0.0/8"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "https://api.trunk.io"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "api.trunk.io:443,trunk.io:8443"},
    {"ALL_PROXY": "http://p.corp:1", "NO_PROXY": "TRUNK.IO"},
    {"http_proxy": "http://lower.corp:1", "HTTP_PROXY": "http://upper.corp:1"},
    {"HTTP_PROXY": "http://p.corp:1", "NO_PROXY": "http://127.0.0.1:8080"},
]


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return (
        parts.scheme,
        parts.hostname or "",
        parts.port or {"http": 80, "https": 443}[parts.scheme],
    )


def httpx_choice(url: str) -> tuple[tuple[str, str, int], str | None] | None:
    """The proxy httpx's client takes for `url` (origin, Proxy-Authorization); None: direct."""
    with httpx.Client() as client:
        transport: Any = client._transport_for_url(httpx.URL(url))
        if transport is client._transport:
            return None
        pool = transport._pool
        proxy = pool._proxy_url
        scheme, host = proxy.scheme.decode(), proxy.host.decode()
        auth = dict(pool._proxy_headers).get(b"Proxy-Authorization")
        where = (scheme, host, proxy.port or {"http": 80, "https": 443}[scheme])
        return where, auth.decode() if auth else None


def our_choice(url: str) -> tuple[tuple[str, str, int], str | None] | None:
    proxy = proxy_for(url)
    if proxy is None:
        return None
    full = proxy if "://" in proxy else f"http://{proxy}"
    return origin(full), proxy_authorization(full).get("Proxy-Authorization")


@pytest.mark.parametrize(
    "environment", ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()) or "none"
)
def test_the_proxy_chosen_is_the_one_httpx_chose(
    no_proxies: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        no_proxies.setenv(name, value)
    choices = {url: our_choice(url) for url in URLS}
    assert choices == {url: httpx_choice(url) for url in URLS}
    if environment and "*" not in environment.get("NO_PROXY", ""):
        assert any(choices.values())  # the environment did change something


def test_a_credentialed_proxy_gets_basic_proxy_authorization(
    no_proxies: pytest.MonkeyPatch,
) -> None:
    no_proxies.setenv("HTTPS_PROXY", "http://user:pa%40ss@proxy.corp:3128")
    choice = our_choice("https://api.trunk.io/")
    assert choice == (("http", "proxy.corp", 3128), "Basic dXNlcjpwYUBzcw==")  # user:pa@ss


# ---- a real forward proxy on 127.0.0.1 ------------------------------------------------


def forward(request: Request) -> Reply:
    """A CONNECT-less forward proxy: the absolute URL in the request line says where to."""
    target = urlsplit(request.path)
    connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
    skip = {"proxy-authorization", "proxy-connection", "connection", "host", "content-length"}
    headers = {k: v for k, v in request.headers.items() if k not in skip}
    try:
        connection.request(request.method, target.path, body=request.body, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    return Reply(answer.status, body, {"Content-Type": answer.getheader("content-type") or ""})


@pytest.fixture
def proxy() -> Iterator[LoopbackServer]:
    with LoopbackServer(forward) as server:
        yield server


def deliver_one(url: str, dead_letters: Path, **options: Any) -> TrunkSink:
    sink = TrunkSink(
        TOKEN,
        url,
        dead_letter_path=dead_letters,
        timeout=2.0,
        retry_budget=options.pop("retry_budget", 2.0),
        backoff_base=0.01,
        backoff_cap=0.02,
        **options,
    )
    try:
        sink.add(chain_of(make_run()))
        sink.flush()
    finally:
        sink.close()
    return sink


def seen(request: Request) -> tuple[str, str, str | None]:
    return request.method, request.path, request.headers.get("proxy-authorization")


@pytest.mark.parametrize("credentials", ["", f"proxy-user:{PROXY_PASSWORD}@"])
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_an_http_proxy_from_the_environment_carries_the_posts(
    no_proxies: pytest.MonkeyPatch,
    proxy: LoopbackServer,
    trunk: TrunkStandIn,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    credentials: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    no_proxies.setenv(variable, proxy.url.replace("://", f"://{credentials}"))
    deliver_one(trunk.url, tmp_path / "dead.jsonl")
    assert len(trunk.events) > 0 and trunk.posts == 1
    [through_us] = proxy.requests
    assert through_us.path == trunk.url + PATH  # the absolute form: it went via the proxy
    assert through_us.headers["x-api-token"] == TOKEN
    assert "proxy-authorization" not in trunk.server.requests[0].headers  # not passed on
    httpx.post(trunk.url + PATH, content=b"{}", headers={"content-type": "application/json"})
    through_httpx = proxy.requests[1]
    assert seen(through_us) == seen(through_httpx)
    assert (seen(through_us)[2] is not None) == bool(credentials)
    assert PROXY_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("bypass", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("*", "127.0.0.1"),
        ("localhost", "localhost"),
        ("example.com, 127.0.0.1", "127.0.0.1"),
        ("http://127.0.0.1", "127.0.0.1"),
    ],
)
def test_no_proxy_sends_straight_to_trunk(
    no_proxies: pytest.MonkeyPatch,
    proxy: LoopbackServer,
    trunk: TrunkStandIn,
    tmp_path: Path,
    bypass: str,
    host: str,
) -> None:
    no_proxies.setenv("HTTP_PROXY", proxy.url)
    no_proxies.setenv("NO_PROXY", bypass)
    deliver_one(trunk.url.replace("127.0.0.1", host), tmp_path / "dead.jsonl")
    assert proxy.requests == [] and trunk.posts == 1 and len(trunk.events) > 0


def test_an_unlisted_host_still_goes_through_the_proxy(
    no_proxies: pytest.MonkeyPatch, proxy: LoopbackServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    no_proxies.setenv("HTTP_PROXY", proxy.url)
    no_proxies.setenv("NO_PROXY", "example.com,.trunk.io,localhost")
    deliver_one(trunk.url, tmp_path / "dead.jsonl")
    assert len(proxy.requests) == 1 and trunk.posts == 1


def test_an_https_proxy_setting_leaves_an_http_trunk_alone(
    no_proxies: pytest.MonkeyPatch, proxy: LoopbackServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    no_proxies.setenv("HTTPS_PROXY", proxy.url)
    deliver_one(trunk.url, tmp_path / "dead.jsonl")
    assert proxy.requests == [] and trunk.posts == 1


def test_an_unreachable_proxy_is_retried_and_its_password_never_shown(
    no_proxies: pytest.MonkeyPatch,
    refused_url: str,
    trunk: TrunkStandIn,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    no_proxies.setenv("HTTP_PROXY", refused_url.replace("://", f"://ops:{PROXY_PASSWORD}@"))
    with pytest.raises(DeliveryFailed, match=r"attempts \(ProxyError\)") as failed:
        deliver_one(trunk.url, tmp_path / "dead.jsonl", retry_budget=0.3)
    assert trunk.posts == 0
    assert "retry 1" in caplog.text
    for text in (caplog.text, str(failed.value), repr(failed.value.__cause__)):
        assert PROXY_PASSWORD not in text


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "ftp"])
def test_a_proxy_the_sink_cannot_use_is_one_line(
    no_proxies: pytest.MonkeyPatch, tmp_path: Path, scheme: str
) -> None:
    no_proxies.setenv("ALL_PROXY", f"{scheme}://ops:{PROXY_PASSWORD}@proxy.corp:1080")
    with pytest.raises(UserError, match="only http:// and https:// proxies") as refused:
        TrunkSink(TOKEN, "https://api.trunk.io", dead_letter_path=tmp_path / "dead.jsonl")
    assert PROXY_PASSWORD not in str(refused.value) and "\n" not in str(refused.value)
