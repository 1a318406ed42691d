"""The recorded GitHub, Jenkins and CircleCI runs the cassette tests replay, as `Run` trees.

Shared by sinks that must prove every recorded run survives their encoding (OTLP).
"""

from __future__ import annotations

from datetime import datetime, timezone

import vcr

from ci_collector.model import Run
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.mapping import Project
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.state import State
from tests.conftest import CASSETTES
from tests.servers.github_bodies import API
from tests.sources.circleci.make_cassettes import SINCE
from tests.sources.github import scenarios as sc
from tests.sources.jenkins.record_cassettes import CASES, TOKEN, URL, USER


def github_runs() -> list[Run]:
    player = vcr.VCR(record_mode="none", ignore_localhost=True, filter_headers=["authorization"])
    with player.use_cassette(str(CASSETTES / "github" / "poll.yaml")):
        client = GitHubClient(API, "ghp_playback-token-0000000000")
        query = GitHubQuery(repos=(f"{sc.OWNER}/{sc.NAME}",))
        collector = GitHubCollector(client, query, now=datetime(2025, 1, 2, tzinfo=timezone.utc))
        return list(collector(State(":memory:"), SkipPolicy()))


def jenkins_runs() -> list[Run]:
    runs: list[Run] = []
    player = vcr.VCR(record_mode="none", filter_headers=["authorization"])
    for name in ("freestyle", "pipeline"):
        with player.use_cassette(str(CASSETTES / "jenkins" / f"{name}.yaml")):
            client = JenkinsClient(URL, USER, TOKEN, timeout=5)
            collector = JenkinsCollector(client, JenkinsOptions(jobs=CASES[name]))
            runs.extend(collector(State(":memory:"), SkipPolicy()))
    return runs


def circleci_runs() -> list[Run]:
    player = vcr.VCR(
        cassette_library_dir=str(CASSETTES / "circleci"),
        record_mode="none",
        filter_headers=["Circle-Token"],
        match_on=("method", "scheme", "host", "port", "path", "query"),
    )
    project = Project("gh/acme/widgets", "circleci.com", "https://app.circleci.com")
    now = datetime(2024, 5, 10, 13, tzinfo=timezone.utc)
    with (
        player.use_cassette("poll.yaml"),
        CircleCIClient("cassette-token-not-recorded", backoff_base=0.0) as client,
    ):
        return list(
            CircleCISource(client, project, since=SINCE, now=now)(State(":memory:"), SkipPolicy())
        )


def recorded_runs() -> dict[str, list[Run]]:
    """Every finished run of the three platforms' cassettes, by platform."""
    return {"github": github_runs(), "jenkins": jenkins_runs(), "circleci": circleci_runs()}
