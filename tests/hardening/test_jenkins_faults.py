"""Regression: how the Jenkins client answers a busy, failing or flaky server.

Found by the chaos suite: python-jenkins words an HTTP 500 as "Possibly authentication
failed", which was reported as refused credentials (exit 2). Transient answers are now
retried twice and then mean "come back later" (75).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ci_collector.errors import ComeBackLater, UserError
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.state import State
from tests.servers.base import Reply, Request
from tests.servers.jenkins import JenkinsStandIn, running_jenkins
from tests.sources.jenkins.scenarios import APP, populate

USER, TOKEN = "ci-bot", "jenkins-test-token-0123456789"


@pytest.fixture
def jenkins() -> Iterator[JenkinsStandIn]:
    with running_jenkins(USER, TOKEN) as server:
        populate(server)
        yield server


def collect(server: JenkinsStandIn) -> list[str]:
    client = JenkinsClient(server.url, USER, TOKEN, timeout=1)
    runs = JenkinsCollector(client, JenkinsOptions(jobs=(APP,)))(State(":memory:"), SkipPolicy())
    return [run.natural_key for run in runs]


def failing(
    times: int, reply: Callable[[], Reply], where: str = "/api/json"
) -> Callable[[Request, Callable[[], Reply]], Reply]:
    """The first `times` requests to a path containing `where` get `reply`."""
    left = [times]

    def intercept(request: Request, real: Callable[[], Reply]) -> Reply:
        if where in request.path and "crumbIssuer" not in request.path and left[0] > 0:
            left[0] -= 1
            return reply()
        return real()

    return intercept


def test_a_500_that_persists_is_come_back_later_not_bad_credentials(
    jenkins: JenkinsStandIn,
) -> None:
    jenkins.server.intercept = failing(100, lambda: Reply(500, b"<html>oops</html>"))
    with pytest.raises(ComeBackLater, match="answered HTTP 500 for builds of team/app"):
        collect(jenkins)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_other_busy_answers_that_persist_are_come_back_later(
    jenkins: JenkinsStandIn, status: int
) -> None:
    jenkins.server.intercept = failing(100, lambda: Reply(status, b"busy"))
    with pytest.raises(ComeBackLater, match=f"answered HTTP {status}"):
        collect(jenkins)


def test_two_failures_in_a_row_are_retried_away(jenkins: JenkinsStandIn) -> None:
    jenkins.server.intercept = failing(2, lambda: Reply(503, b"busy"))
    assert len(collect(jenkins)) == 5  # app #1-#5; #6 is GitHub Enterprise, #7 runs, #8 is gone
    jenkins.server.intercept = failing(2, lambda: Reply(drop=True), where="wfapi")
    assert len(collect(jenkins)) == 5


def test_dropped_connections_that_persist_are_come_back_later(jenkins: JenkinsStandIn) -> None:
    jenkins.server.intercept = failing(100, lambda: Reply(drop=True), where="wfapi")
    with pytest.raises(ComeBackLater, match="dropped the connection"):
        collect(jenkins)


def test_refused_credentials_are_still_a_user_error(jenkins: JenkinsStandIn) -> None:
    client = JenkinsClient(jenkins.url, USER, "wrong-token-0000", timeout=1)
    with pytest.raises(UserError, match="refused the credentials"):
        list(JenkinsCollector(client, JenkinsOptions(jobs=(APP,)))(State(":memory:"), SkipPolicy()))
