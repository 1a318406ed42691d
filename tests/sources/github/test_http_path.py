"""The GitHub GET path sends and reads exactly what PyGithub's requester did.

GETs no longer go through PyGithub's requester and a requests session (too much CPU per
request); `GitHubSession` keeps their rules. These tests hold it to them by sending the
same request both ways to the same loopback server: PyGithub's own requester (the
reference, still installed for authentication) and the session, then comparing what
the server received and what each returned.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from github import Auth, Consts, Github

from ci_collector import __version__
from ci_collector.errors import RemoteError, UserError
from ci_collector.retry import PacedRetry
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.session import MAX_HOPS, GitHubSession
from tests.servers.base import LoopbackServer, Reply, Request
from tests.servers.misbehaving import misbehaving

TOKEN = "ghp_http-path-token-0000000000"
USER_AGENT = f"ci-collector/{__version__}"


def reference(api_url: str, token: str | None) -> Any:
    """PyGithub's requester as it was used: lazy, no pauses, no retries of its own."""
    github = Github(
        auth=Auth.Token(token) if token else None,
        base_url=api_url,
        user_agent=USER_AGENT,
        per_page=100,
        retry=0,
        seconds_between_requests=0,
        seconds_between_writes=0,
        lazy=True,
    )
    return github.requester


def session(api_url: str, token: str | None) -> GitHubSession:
    return GitHubSession(
        api_url,
        Auth.Token(token) if token else None,
        user_agent=USER_AGENT,
        timeout=5,
        max_body=1 << 20,
        verify=True,
        retries=PacedRetry(total=0, raise_on_status=False),
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: Reply(200, b"{}")) as running:
        yield running


def seen(request: Request) -> tuple[str, str, dict[str, str]]:
    return request.method, request.path, request.headers


@pytest.mark.parametrize("prefix", ["", "/api/v3", "/api/v3/"])
@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/repos/o/n/actions/runs", {"per_page": 100, "status": "completed"}, {}),
        (
            "/repos/o/n/actions/runs",
            {"per_page": 100, "created": ">=2024-12-30T00:00:00Z", "page": 3},
            {"If-None-Match": 'W/"0d85564d713e3771"'},
        ),
        ("/repos/o/n/actions/runs/9001/attempts/2/jobs", {"per_page": 100, "page": 2}, {}),
        ("/repos/o/n/actions/runs/9001", {}, {"If-None-Match": '"strong"'}),
        ("/repos/o/n/actions/workflows/my flow.yml/runs", {"branch": "feature/x y"}, {}),
        ("/repos/o/n/actions/workflows/\u00fcn\u00ef.yml/runs", {"actor": "\u00e9l\u00e8ve"}, {}),
        ("/repos/o/n/actions/workflows/%41b.yml/runs", {"exclude_pull_requests": True}, {}),
        ("/repos/o/n/actions/workflows/a;b#c.yml/runs", {"q": "a%41 b+c&d=e"}, {}),
        ("/repos/o-1/n_2.x~/actions/runs", {"event": "push", "head_sha": "0f1e"}, {}),
    ],
)
@pytest.mark.parametrize("token", [TOKEN, None])
def test_the_server_receives_what_pygithub_sent(
    server: LoopbackServer,
    prefix: str,
    path: str,
    params: dict[str, Any],
    headers: dict[str, str],
    token: str | None,
) -> None:
    api_url = server.url + prefix
    reference(api_url, token).requestJson("GET", path, dict(params), dict(headers))
    ours = session(api_url, token)
    ours.get(path, params, headers)
    ours.close()
    before, after = (seen(request) for request in server.requests)
    assert after == before
    assert (token is not None) == ("authorization" in after[2])


def _answers(*replies: Reply) -> Any:
    queue = list(replies)

    def handle(request: Request) -> Reply:
        return queue[0] if len(queue) == 1 else queue.pop(0)

    return handle


UTF8_JSON = '{"message": "d\u00e9j\u00e0 vu \u2713", "n": 1}'.encode()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, UTF8_JSON, {"Content-Type": "application/json; charset=utf-8"}),
        Reply(200, UTF8_JSON, {"Content-Type": "application/json"}),
        Reply(200, UTF8_JSON, {"Content-Type": "text/plain"}),  # read as Latin-1, as before
        Reply(200, UTF8_JSON, {"Content-Type": ""}),  # no charset at all: guessed
        Reply(200, "<p>caf\u00e9</p>".encode("cp1252"), {"Content-Type": "text/html"}),
        Reply(200, UTF8_JSON, {"Content-Type": "text/html; charset=no-such-codec"}),
        Reply(200, b""),
        Reply(304, b"", {"ETag": 'W/"abc"', "X-RateLimit-Remaining": "4999"}),
        Reply(404, b'{"message": "Not Found"}', {"X-GitHub-Request-Id": "AB:CD"}),
        Reply(401, b'{"message": "Bad credentials"}'),
        Reply(403, b'{"message": "x"}', {"X-RateLimit-Remaining": "0", "Retry-After": "7"}),
        Reply(429, b"{}", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        Reply(302, b"", {"Location": "http://elsewhere.test/login"}),
        Reply(307, b"", {"Location": "/repos/o/n/actions/runs"}),
        Reply(301, b"moved"),  # no Location: returned as it is
        Reply(501, b"nope", {"Content-Type": "text/plain; charset=ascii"}),
        Reply(200, gzip.compress(UTF8_JSON), {"Content-Encoding": "gzip"}),
    ],
)
def test_the_answer_read_is_what_pygithub_read(reply: Reply) -> None:
    with LoopbackServer(lambda request: reply) as server:
        status, headers, body = reference(server.url, TOKEN).requestJson(
            "GET", "/repos/o/n/actions/runs", {"per_page": 100}, {}
        )
        ours = session(server.url, TOKEN)
        got = ours.get("/repos/o/n/actions/runs", {"per_page": 100}, {})
        ours.close()
    for answer in (headers, got[1]):
        answer.pop("date", None)  # the server's clock may tick between the two
    assert got == (status, headers, body)


def test_repeated_answer_headers_are_joined_as_before() -> None:
    def behave(path: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: <a>; rel=next\r\n"
            b"link: <b>; rel=last\r\nContent-Length: 2\r\n\r\n{}"
        )

    with misbehaving(behave) as server:
        expected = reference(server.url, None).requestJson("GET", "/x", {}, {})
        ours = session(server.url, None)
        got = ours.get("/x", {}, {})
        ours.close()
    assert got == expected
    assert got[1]["link"] == "<a>; rel=next, <b>; rel=last"


# ---- redirects and 202s, through the client ---------------------------------------------


def _client_get(server: LoopbackServer, path: str = "/repos/o/n/actions/runs") -> Any:
    client = GitHubClient(server.url, TOKEN)
    try:
        return client.get(path, {"per_page": 100})
    finally:
        client.close()


def test_a_301_to_another_path_of_the_same_server_is_followed_without_the_query() -> None:
    with LoopbackServer(lambda request: Reply(200, b"{}")) as server:
        moved = Reply(301, b"", {"Location": f"{server.url}/api/v3/repos/o/n/actions/runs"})
        server.handle = _answers(moved, Reply(200, b'{"total_count": 0}'))
        assert _client_get(server) == {"total_count": 0}
        paths = [request.path for request in server.requests]
    assert paths == ["/repos/o/n/actions/runs?per_page=100", "/api/v3/repos/o/n/actions/runs"]
    assert server.requests[1].headers["authorization"] == f"token {TOKEN}"


@pytest.mark.parametrize(
    ("location", "requests"),
    [
        ("http://localhost:{port}/repos/o/n/actions/runs", 1),  # another host name
        ("https://127.0.0.1:{port}/repos/o/n/actions/runs", 1),  # another scheme
        ("/elsewhere/repos/o/n/actions/runs", 1),  # no scheme or host at all
        # the query is not kept: followed once, then refused as a redirect to itself
        ("http://127.0.0.1:{port}/repos/o/n/actions/runs?per_page=100", 2),
    ],
)
def test_a_301_away_from_the_server_is_refused(location: str, requests: int) -> None:
    with LoopbackServer(lambda request: Reply(200, b"{}")) as server:
        port = server.url.rsplit(":", 1)[1]
        server.handle = _answers(Reply(301, b"", {"Location": location.format(port=port)}))
        with pytest.raises(UserError, match="away from itself; check --github-api-url"):
            _client_get(server)
        assert len(server.requests) == requests


def test_endless_301s_end_in_one_line_after_a_bounded_number_of_requests() -> None:
    with LoopbackServer(lambda request: Reply(200, b"{}")) as server:
        hops = iter(range(10_000))
        server.handle = lambda request: Reply(
            301, b"", {"Location": f"{server.url}/loop/{next(hops)}/runs"}
        )
        with pytest.raises(UserError, match="in a loop; check --github-api-url"):
            _client_get(server)
        assert len(server.requests) == MAX_HOPS + 1


def test_a_302_is_not_followed() -> None:
    with LoopbackServer(lambda request: Reply(302, b"", {"Location": "/login"})) as server:
        with pytest.raises(UserError, match=r"answered 302 \(a redirect\)"):
            _client_get(server)
        assert len(server.requests) == 1


def test_a_202_is_asked_again_after_pygithubs_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Consts, "PROCESSING_202_WAIT_TIME", 0.01)
    with LoopbackServer(lambda request: Reply(200, b"{}")) as server:
        server.handle = _answers(Reply(202, b"{}"), Reply(202, b"{}"), Reply(200, b"[1]"))
        assert _client_get(server) == [1]
        assert len(server.requests) == 3
    assert {request.path for request in server.requests} == {"/repos/o/n/actions/runs?per_page=100"}


# ---- the environment: proxies and CA bundles, read as requests read them ----------------


@pytest.mark.parametrize("credentials", ["", "proxy-user:proxy-pass@"])
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_an_http_proxy_from_the_environment_gets_what_pygithub_sent_it(
    no_proxies: pytest.MonkeyPatch, variable: str, credentials: str
) -> None:
    api_url = "http://api.github.invalid:8080/api/v3"  # never resolved: the proxy answers
    with LoopbackServer(lambda request: Reply(200, b"{}")) as proxy:
        no_proxies.setenv(variable, proxy.url.replace("://", f"://{credentials}"))
        reference(api_url, TOKEN).requestJson("GET", "/repos/o/n/actions/runs", {"page": 2}, {})
        ours = session(api_url, TOKEN)
        ours.get("/repos/o/n/actions/runs", {"page": 2}, {})
        ours.close()
        before, after = (seen(request) for request in proxy.requests)
    assert after == before
    assert after[1] == "http://api.github.invalid:8080/api/v3/repos/o/n/actions/runs?page=2"
    assert ("proxy-authorization" in after[2]) == bool(credentials)


@pytest.mark.parametrize("host", ["[::1]", "[2001:db8::7]", "[::ffff:127.0.0.1]"])
@pytest.mark.parametrize("port", ["", ":8080"])
def test_an_ipv6_api_url_keeps_its_brackets(
    no_proxies: pytest.MonkeyPatch, host: str, port: str
) -> None:
    """``http://[::1]:8080`` was sent as ``http://::1:8080``, which no library accepts: every
    request failed as "come back later (InvalidURL)". The proxy sees the URL as sent."""
    with LoopbackServer(lambda request: Reply(200, b"{}")) as proxy:
        no_proxies.setenv("HTTP_PROXY", proxy.url)
        client = GitHubClient(f"http://{host}{port}/api/v3", TOKEN, timeout=2)
        client.get("/repos/o/n/actions/runs")
        client.close()
        (request,) = proxy.requests
    assert request.path == f"http://{host}:{port[1:] or 80}/api/v3/repos/o/n/actions/runs"
    assert request.headers["host"] == f"{host}{port or ':80'}"


@pytest.mark.parametrize("bypass", ["api.github.invalid", "*", ".github.invalid"])
def test_no_proxy_is_honoured(no_proxies: pytest.MonkeyPatch, bypass: str) -> None:
    with LoopbackServer(lambda request: Reply(200, b"{}")) as proxy:
        no_proxies.setenv("HTTP_PROXY", proxy.url)
        no_proxies.setenv("NO_PROXY", bypass)
        no_proxies.setenv("CI_COLLECTOR_RETRY_BASE", "0.001")  # refused connections: no waits
        client = GitHubClient("http://api.github.invalid:8080", TOKEN, timeout=2)
        with pytest.raises(
            RemoteError, match=r"cannot reach GitHub at http://api\.github\.invalid"
        ):
            client.get("/repos/o/n/actions/runs")
        client.close()
        assert proxy.requests == []


@pytest.mark.parametrize("token", [TOKEN, None])
def test_the_request_log_at_vv_has_pygithubs_lines_and_no_token(
    caplog: pytest.LogCaptureFixture, token: str | None
) -> None:
    def lines() -> list[str]:
        found = []
        for record in caplog.records:
            if record.name == "github.Requester":
                args = list(record.args or ())
                if len(args) == 9:
                    args[7] = {k: v for k, v in args[7].items() if k != "date"}
                found.append(record.msg % tuple(args) if args else record.getMessage())
        caplog.clear()
        return found

    caplog.set_level(logging.DEBUG, logger="github.Requester")
    with LoopbackServer(lambda request: Reply(200, b"{}")) as server:
        moved = Reply(301, b"", {"Location": f"{server.url}/api/v3/repos/o/n/actions/runs"})
        answered = Reply(200, b'{"total_count": 0}', {"ETag": '"e"'})
        server.handle = _answers(moved, answered)
        reference(server.url, token).requestJson(
            "GET", "/repos/o/n/actions/runs", {"page": 2}, {"If-None-Match": '"e"'}
        )
        expected = lines()
        server.handle = _answers(moved, answered)
        ours = session(server.url, token)
        ours.get("/repos/o/n/actions/runs", {"page": 2}, {"If-None-Match": '"e"'})
        ours.close()
        got = lines()
    assert len(got) == 3 and got == expected  # two requests and the redirection between
    assert all(TOKEN not in line for line in got)


def test_a_header_requests_would_refuse_is_refused_every_time(server: LoopbackServer) -> None:
    """Valid pairs are checked once and remembered; a refused one is never remembered."""
    good = session(server.url, "ghp_good")
    good.get("/rate_limit", {}, {})
    good.get("/rate_limit", {}, {})
    assert len(server.requests) == 2
    bad = session(server.url, "ghp_bad\nX-Injected: 1")
    for _ in range(2):
        with pytest.raises(requests.exceptions.InvalidHeader):
            bad.get("/rate_limit", {}, {})
    assert len(server.requests) == 2  # nothing sent
