"""Servers in passing trouble, through the real CLI (in-process): 75 soon, never a hang.

A server that trickles its answer, cuts it short, or asks to be left alone for a year
ends the command with one line and exit 75 within seconds; a Retry-After that is
negative, absurd or a date is read, clamped and never slept on past the budget; an
endless body is refused at ``--max-body``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.hardening.in_process import Cli, one_line
from tests.servers.base import Reply, Request
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubServer
from tests.servers.jenkins import running_jenkins
from tests.servers.misbehaving import Behaviour, cut_short, endless, misbehaving, trickle
from tests.sources.github.scenarios import NAME, OWNER

FAST = ["--timeout", "0.5", "--retry-seconds", "0.5"]

Command = Callable[[str], list[str]]
COMMANDS: dict[str, Command] = {
    "github": lambda url: ["github", "--repo", "a/b", "--github-api-url", url],
    "jenkins": lambda url: ["jenkins", "--url", url],
    "circleci": lambda url: ["circleci", "--project-slug", "gh/a/b", "--circleci-api-url", url],
}
ENV = {"CIRCLECI_TOKEN": CIRCLECI_TOKEN}


def timed(run: Callable[[], tuple[int, list[str]]]) -> tuple[tuple[int, list[str]], float]:
    started = time.monotonic()
    result = run()
    return result, time.monotonic() - started


@pytest.mark.parametrize("platform", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("behaviour", "fragment"),
    [
        (trickle(0.1), "no complete answer within 3s"),
        (trickle(0.1, headers_too=True), "no complete answer within 3s"),
    ],
    ids=["body", "headers"],
)
def test_a_trickling_server_ends_in_one_line_and_75_not_a_hang(
    cli: Cli, platform: str, behaviour: Behaviour, fragment: str
) -> None:
    with misbehaving(behaviour) as server:
        args = COMMANDS[platform](server.url)
        slow = ["--timeout", "0.3", "--retry-seconds", "0.5"]  # each byte comes within 0.3 s
        result, took = timed(lambda: cli(*args, *slow, env=ENV))
    one_line(result, 75, fragment)
    assert took < 10, took  # the whole trickle (~300 bytes, 0.1 s each) would take 30 s


def test_the_invocation_deadline_bounds_everything(cli: Cli) -> None:
    with misbehaving(trickle(0.2)) as server:
        args = ["jenkins", "--url", server.url, "--timeout", "30", "--deadline", "1"]
        result, took = timed(lambda: cli(*args, env=ENV))
    one_line(result, 75, "before this invocation's --deadline")
    assert took < 8, took


@pytest.mark.parametrize("platform", sorted(COMMANDS))
def test_a_connection_cut_mid_body_is_transient(cli: Cli, platform: str) -> None:
    with misbehaving(cut_short()) as server:
        args = COMMANDS[platform](server.url)
        result = cli(*args, *FAST, env=ENV)
    one_line(result, 75, "run again later" if platform != "circleci" else "CircleCI still failing")


@pytest.mark.parametrize("platform", sorted(COMMANDS))
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
def test_an_endless_body_is_refused_at_max_body(cli: Cli, platform: str, declared: bool) -> None:
    with misbehaving(endless(declared)) as server:
        args = COMMANDS[platform](server.url)
        result, took = timed(lambda: cli(*args, "--max-body", "1", "--timeout", "5", env=ENV))
    one_line(result, 1, "answer larger than --max-body 1 MB")
    assert took < 8, took


# ---- Retry-After: negative, absurd, dates, garbage -------------------------------------

SOON = ["-5", "0", "Thu, 01 Jan 1970 00:00:00 GMT", "soon", "nan", " 0 "]
"""Values that mean "now" (or nothing usable): the retry goes ahead at once."""
NEVER = ["99999999999", "1e400", "inf", "Fri, 31 Dec 9999 23:59:59 GMT"]
"""Values beyond any budget: give up now with 75, do not sleep on them."""


def once(reply: Reply) -> Callable[[Request, Callable[[], Reply]], Reply]:
    """An intercept answering `reply` to the first request, the real answer afterwards."""
    used: list[bool] = []

    def intercept(request: Request, real: Callable[[], Reply]) -> Reply:
        if used:
            return real()
        used.append(True)
        return reply

    return intercept


def github_args(server: GitHubServer) -> list[str]:
    return ["github", "--repo", f"{OWNER}/{NAME}", "--github-api-url", server.url]


@pytest.mark.parametrize("value", SOON + NEVER)
@pytest.mark.parametrize("status", [429, 503])
def test_github_retry_after_values_never_crash_or_hang(
    cli: Cli, github_standin: GitHubServer, value: str, status: int
) -> None:
    github = github_standin
    github.server.intercept = once(Reply(status, b'{"message": "slow"}', {"Retry-After": value}))
    args = [*github_args(github), "--since", "2024-12-30", "--retry-seconds", "2"]
    args += ["--max-wait", "5"]
    (code, lines), took = timed(lambda: cli(*args))
    assert took < 8, took
    # an unreadable Retry-After on a 429 is GitHub's "wait a minute", beyond --max-wait 5
    if value in NEVER or (status == 429 and value == "soon"):
        one_line((code, lines), 75)
    else:
        assert code == 0, lines


@pytest.mark.parametrize("value", SOON + NEVER)
def test_jenkins_retry_after_values_never_crash_or_hang(cli: Cli, value: str) -> None:
    with running_jenkins() as jenkins:
        jenkins.server.intercept = once(Reply(503, b"busy", {"Retry-After": value}))
        args = ["jenkins", "--url", jenkins.url, "--retry-seconds", "2"]
        (code, lines), took = timed(lambda: cli(*args))
    assert took < 8, took
    if value in NEVER:
        one_line((code, lines), 75, "HTTP 503")
    else:
        assert code == 0, lines


@pytest.mark.parametrize("value", SOON + NEVER)
def test_circleci_retry_after_values_never_crash_or_hang(cli: Cli, value: str) -> None:
    world = CircleCIWorld()
    with running_circleci(world):
        world.faults.append(Reply(429, b'{"message": "slow"}', {"Retry-After": value}))
        args = ["circleci", "--project-slug", "gh/acme/widgets", "--retry-seconds", "2"]
        (code, lines), took = timed(
            lambda: cli(*args, "--circleci-api-url", world.api_url, env=ENV)
        )
    assert took < 8, took
    if value in NEVER:
        one_line((code, lines), 75, "HTTP 429")
    else:
        assert code == 0, lines
