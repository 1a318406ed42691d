"""--concurrency keeps a source's whole stream in the sequential order: runs, skips and
checkpoints alike, so a checkpoint never comes before a run (or skip) it covers.

The sources are called in-process against the stand-ins, which answer after a delay
drawn from the path (`Jitter`), so later fetches often finish first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ci_collector.ledger import Checkpoint
from ci_collector.model import Run
from ci_collector.pipeline import Item, RunSource, SkipPolicy
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.mapping import Project, canonical_slug
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.state import State
from tests.servers.circleci import TOKEN as CIRCLE_TOKEN
from tests.servers.circleci import running_circleci
from tests.servers.github import GitHubModel, running_github
from tests.servers.jenkins import running_jenkins
from tests.sources.github import scenarios as sc
from tests.sources.jenkins.scenarios import populate
from tests.sources.test_concurrency import JENKINS_TOKEN, JENKINS_USER, Jitter, circle_world


class Recording(SkipPolicy):
    """Writes each skip into the same log as the items, so its place can be compared."""

    def __init__(self, log: list[Any]) -> None:
        super().__init__()
        self.log = log

    def __call__(self, what: str, why: str, **kwargs: Any) -> None:
        self.log.append(("skip", what))
        super().__call__(what, why, **kwargs)


def stream(source: RunSource, state_path: Path) -> list[Any]:
    """The source's items and skips in the order they came; runs as their keys."""
    log: list[Any] = []
    with State(state_path) as state:
        skip = Recording(log)
        skip.state = state
        for item in source(state, skip):
            log.append(_describe(item))
    return log


def _describe(item: Item) -> Any:
    if isinstance(item, Run):
        return ("run", item.natural_key)
    assert isinstance(item, Checkpoint)
    return ("checkpoint", item.source, item.cursor, item.complete)


def assert_same_and_covered(one: list[Any], many: list[Any]) -> None:
    assert one == many
    checkpoints = [entry for entry in one if entry[0] == "checkpoint"]
    assert checkpoints and any(entry[0] == "run" for entry in one)


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_github_stream_is_the_sequential_one(spread: float, tmp_path: Path) -> None:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % sc.HOUR - 10 * sc.HOUR
    model: GitHubModel = sc.catalogue(base)
    sc.bulk(model, 45, base - 2 * sc.DAY, spacing_ms=7 * sc.MIN, jobs_per_run=3)
    streams = []
    with running_github(model) as server:
        jitter = Jitter(server.server, spread)
        for concurrency in (1, 8):
            client = GitHubClient(server.url, "ghp_stream-token-1234")
            query = GitHubQuery(repos=(f"{sc.OWNER}/{sc.NAME}",))
            collector = GitHubCollector(client, query, concurrency=concurrency)
            try:
                streams.append(stream(collector, tmp_path / f"gh-{concurrency}.sqlite"))
            finally:
                client.close()
    assert_same_and_covered(*streams)
    assert jitter.most_in_flight > 1


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_jenkins_stream_is_the_sequential_one(spread: float, tmp_path: Path) -> None:
    streams = []
    with running_jenkins(JENKINS_USER, JENKINS_TOKEN) as jenkins:
        populate(jenkins)
        jitter = Jitter(jenkins.server, spread)
        for concurrency in (1, 8):
            client = JenkinsClient(jenkins.url, JENKINS_USER, JENKINS_TOKEN, timeout=10)
            collector = JenkinsCollector(client, JenkinsOptions(), concurrency=concurrency)
            streams.append(stream(collector, tmp_path / f"jk-{concurrency}.sqlite"))
    assert_same_and_covered(*streams)
    assert sum(entry[0] == "checkpoint" for entry in streams[0]) > 1  # one per job
    assert jitter.most_in_flight > 1


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_circleci_stream_is_the_sequential_one(spread: float, tmp_path: Path) -> None:
    world = circle_world(18)
    streams = []
    with running_circleci(world):
        jitter = Jitter(world.server, spread)
        project = Project(
            canonical_slug("github/acme/widgets"), "127.0.0.1", "https://app.circleci.com"
        )
        for concurrency in (1, 8):
            with CircleCIClient(CIRCLE_TOKEN, world.api_url, timeout=10) as client:
                source = CircleCISource(client, project, concurrency=concurrency)
                streams.append(stream(source, tmp_path / f"cc-{concurrency}.sqlite"))
    assert_same_and_covered(*streams)
    assert streams[0][-1][0] == "checkpoint"
    assert jitter.most_in_flight > 1
