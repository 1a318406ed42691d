"""Issue 13: Trunk misconfiguration is one line and exit 2 at start; "sent" means Trunk
accepted it; dead letters go where they can be written. Through `main` in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_collector.commands.trunk_config import resolve_trunk
from ci_collector.errors import UserError
from ci_collector.state import State
from tests.delivery import harness
from tests.delivery.harness import bad, good, run
from tests.servers.base import Reply, Request
from tests.servers.front import TunnelProxy
from tests.servers.trunk import TOKEN, TrunkStandIn


def tiny(tmp_path: Path, *args: str, env: dict[str, str]) -> harness.Result:
    harness.RUNS[:] = [good(1), good(2)]
    return run(
        "tiny", "--state", str(tmp_path / "state.sqlite"), "--retry-seconds", "30", *args, env=env
    )


def assert_one_line(result: harness.Result, code: int, line: str) -> None:
    assert result.code == code, result.err
    assert result.lines == [f"ci-collector: error: {line}"]


# ---- a configuration error is not "come back later" ---------------------------------


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "api.trunk.io",
            "--trunk-url 'api.trunk.io' needs an https:// scheme (e.g. https://api.trunk.io)",
        ),
        (
            "127.0.0.1:8080",
            "--trunk-url '127.0.0.1:8080' needs an https:// scheme (e.g. https://api.trunk.io)",
        ),
        (
            "ftp://api.trunk.io",
            "--trunk-url 'ftp://api.trunk.io' needs an https:// scheme (e.g. https://api.trunk.io)",
        ),
        (
            "htps://api.trunk.io",
            "--trunk-url 'htps://api.trunk.io' needs an https:// scheme (e.g. https://api.trunk.io)",
        ),
        ("https://", "--trunk-url 'https://' has no host"),
        (
            "https://api.trunk.io:99999",
            "--trunk-url 'https://api.trunk.io:99999' is not a valid URL "
            "(Port out of range 0-65535)",
        ),
        (
            "https://api.trunk.invalid",
            "Trunk host api.trunk.invalid does not resolve (Name or service not known); "
            "check --trunk-url",
        ),
        (
            "https://no-such-host-ci-collector",
            "Trunk host no-such-host-ci-collector does not resolve (Name or service not "
            "known); check --trunk-url",
        ),
        (
            "https://bot:hunter2-token@api.trunk.io",
            "--trunk-url https://api.trunk.io carries credentials (user:token@): remove them; "
            "Trunk's token goes in TRUNK_API_TOKEN",
        ),
    ],
)
def test_a_wrong_trunk_url_is_exit_2_at_start(
    no_proxies: pytest.MonkeyPatch, tmp_path: Path, url: str, line: str
) -> None:
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": url})
    assert_one_line(result, 2, line)
    assert not (tmp_path / "state.sqlite").exists()  # before anything else


@pytest.mark.parametrize("pasted", [TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}\t", TOKEN + " \n\n"])
def test_a_token_with_surrounding_whitespace_is_used_stripped(
    trunk: TrunkStandIn, tmp_path: Path, pasted: str
) -> None:
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": pasted, "TRUNK_API_URL": trunk.url})
    assert result.code == 0, result.err
    assert len(trunk.events) == 8
    assert {r.headers["x-api-token"] for r in trunk.server.requests} == {TOKEN}


SPACE = "TRUNK_API_TOKEN has a space or control character inside; set the token alone"
NOT_ASCII = "TRUNK_API_TOKEN has a character that is not ASCII; tokens are ASCII"


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        *((text, SPACE) for text in ("trunk token 42", "abc\ndef-token", "tok\ten-1234")),
        *((text, SPACE) for text in ("tok\x7fen-1234", "tok\x1b[31men", "token\u200b-1234")),
        *(
            (text, NOT_ASCII)
            for text in (
                "tok€n-1234",
                "tökén-1234",
                "\uff54\uff4f\uff4b\uff45\uff4e-1234",
                "トークン",
            )
        ),
    ],
)
def test_a_token_that_cannot_be_a_header_is_refused_in_one_line(
    trunk: TrunkStandIn, tmp_path: Path, pasted: str, message: str
) -> None:
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": pasted, "TRUNK_API_URL": trunk.url})
    assert_one_line(result, 2, message)
    assert pasted not in result.err
    assert trunk.server.requests == []


# ---- "sent" means Trunk accepted it ---------------------------------------------------


def answer(reply: Reply):  # type: ignore[no-untyped-def]
    def intercept(request: Request, real):  # type: ignore[no-untyped-def]
        return reply

    return intercept


@pytest.mark.parametrize(
    ("reply", "what"),
    [
        (
            Reply(
                200,
                b"<!DOCTYPE html><html><head><title>Sign in - Corp SSO</title></head></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            ),
            "an HTML page (Sign in - Corp SSO)",
        ),
        (
            Reply(
                200,
                b"<html><body>Welcome to Hotel WiFi</body></html>",
                {"Content-Type": "text/html"},
            ),
            "an HTML page (text/html)",
        ),
        (
            Reply(200, b"OK", {"Content-Type": "text/plain"}),
            "a text/plain body that is not JSON (OK)",
        ),
        (Reply(200, b"[]"), "JSON that is not an object ([])"),
        (
            Reply(200, b'{"error":"proxy authentication required"}'),
            'JSON carrying an error ({"error":"proxy authentication required"})',
        ),
        (Reply(200, b'{"ok":false}'), 'JSON carrying an error ({"ok":false})'),
    ],
)
def test_a_2xx_that_is_not_trunk_is_no_delivery(
    trunk: TrunkStandIn, tmp_path: Path, reply: Reply, what: str
) -> None:
    trunk.server.intercept = answer(reply)
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url})
    url = trunk.url + "/v1/metrics/trackEvents"
    assert result.code == 1, result.err
    assert result.lines[-1] == (
        f"ci-collector: error: {url} answered HTTP 200 with {what}, not Trunk's answer: "
        "nothing was marked delivered; check --trunk-url and proxies"
    )
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 0
    assert not (tmp_path / "state.dead-letters.jsonl").exists()


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_not_trunk_either(trunk: TrunkStandIn, tmp_path: Path, status: int) -> None:
    trunk.server.intercept = answer(Reply(status, b"", {"Location": "https://sso.corp/login"}))
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url})
    assert result.code == 1, result.err
    assert result.lines[-1].endswith(
        f"answered HTTP {status} (redirect to https://sso.corp/login), not Trunk's answer: "
        "nothing was marked delivered; check --trunk-url"
    )
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 0


@pytest.mark.parametrize("body", [b"", b"{}", b'{"ok":true}', b'{"created":2}'])
def test_trunks_own_answers_are_deliveries(
    trunk: TrunkStandIn, tmp_path: Path, body: bytes
) -> None:
    def intercept(request: Request, real):  # type: ignore[no-untyped-def]
        real()
        return Reply(200, body)

    trunk.server.intercept = intercept
    result = tiny(tmp_path, env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url})
    assert result.code == 0, result.err
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 2


# ---- dead letters where they can be written ------------------------------------------


def test_dead_letters_default_next_to_the_state_file_not_the_working_directory(
    trunk: TrunkStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    harness.RUNS[:] = [good(1), bad(2)]
    state = tmp_path / "var" / "state.sqlite"
    result = run(
        "tiny", "--state", str(state), env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    )
    assert result.code == 1, result.err
    assert list(workdir.iterdir()) == []
    dead = tmp_path / "var" / "state.dead-letters.jsonl"
    assert len(dead.read_text().splitlines()) == 1
    assert result.lines[-1].endswith(f"4 events refused by Trunk, kept in {dead}")


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (
            lambda d: d / "missing" / "dead.jsonl",
            "dead-letter file {p}: directory {p.parent} does not exist; create it first",
        ),
        (lambda d: d, "Invalid value for '--dead-letter': File '{p}' is a directory."),
        (
            lambda d: _file(d / "plain") / "dead.jsonl",
            "dead-letter file {p}: {p.parent} is not a directory",
        ),
    ],
)
def test_an_unusable_dead_letter_path_is_exit_2_before_any_fetching(
    trunk: TrunkStandIn,
    tmp_path: Path,
    make,
    line: str,  # type: ignore[no-untyped-def]
) -> None:
    path = make(tmp_path)
    harness.RUNS[:] = [good(1)]
    result = run(
        "tiny",
        "--state",
        str(tmp_path / "s.sqlite"),
        "--dead-letter",
        str(path),
        env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url},
    )
    assert_one_line(result, 2, line.format(p=path))
    assert trunk.server.requests == []


def _file(path: Path) -> Path:
    path.write_text("not a directory")
    return path


# ---- behind a proxy, the proxy resolves Trunk's host ---------------------------------


@pytest.mark.parametrize(
    "proxy",
    [
        {"HTTPS_PROXY": "http://proxy.corp.invalid:3128"},
        {"https_proxy": "http://user:pw@proxy.corp.invalid:3128"},
        {"ALL_PROXY": "http://proxy.corp.invalid:3128"},
        {"ALL_PROXY": "http://proxy.corp.invalid:3128", "NO_PROXY": "example.com"},
    ],
)
def test_behind_a_proxy_trunks_host_is_left_to_the_proxy(
    no_proxies: pytest.MonkeyPatch, proxy: dict[str, str]
) -> None:
    for name, value in proxy.items():
        no_proxies.setenv(name, value)
    resolve_trunk("https://api.trunk.invalid")  # no local lookup: no error


@pytest.mark.parametrize(
    "proxy",
    [
        {},
        {"HTTP_PROXY": "http://proxy.corp.invalid:3128"},  # for http:// URLs only
        {"HTTPS_PROXY": "http://proxy.corp.invalid:3128", "NO_PROXY": "trunk.invalid"},
        {"ALL_PROXY": "http://proxy.corp.invalid:3128", "NO_PROXY": "*"},
    ],
)
def test_going_direct_a_host_that_does_not_resolve_is_still_exit_2(
    no_proxies: pytest.MonkeyPatch, proxy: dict[str, str]
) -> None:
    for name, value in proxy.items():
        no_proxies.setenv(name, value)
    with pytest.raises(UserError, match=r"Trunk host api\.trunk\.invalid does not resolve"):
        resolve_trunk("https://api.trunk.invalid")


def test_a_run_behind_a_proxy_asks_the_proxy_for_trunk(
    no_proxies: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_proxies.setenv("CI_COLLECTOR_RETRY_BASE", "0.001")
    with TunnelProxy() as proxy:
        no_proxies.setenv("HTTPS_PROXY", proxy.url)
        result = tiny(
            tmp_path,
            "--retry-seconds",
            "1",
            env={"TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": "https://api.trunk.invalid"},
        )
    assert proxy.heads and proxy.heads[0].startswith("CONNECT api.trunk.invalid:443 ")
    assert result.code == 75, result.err  # the proxy could not reach it: come back later
    assert "does not resolve" not in result.err
