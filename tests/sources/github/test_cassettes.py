"""Cassette playback: GitHub bodies -> collector -> mapper -> TrunkSink -> Trunk stand-in.

The cassettes (``cassettes/github``) hold every edge case of `scenarios.catalogue`; the
collector runs in-process with vcrpy answering for ``api.github.test`` and the real
uploader posting to the loopback Trunk stand-in.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import vcr

from ci_collector.pipeline import SkipPolicy, Summary, deliver
from ci_collector.sinks import TrunkSink
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.state import State
from tests.conftest import CASSETTES
from tests.servers.github_bodies import API
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains, metrics, tags

NOW = datetime(2025, 1, 2, tzinfo=timezone.utc)
REPO = f"{sc.OWNER}/{sc.NAME}"


def play(name: str, query: GitHubQuery, trunk: TrunkStandIn) -> tuple[Summary, int, Any]:
    player = vcr.VCR(record_mode="none", ignore_localhost=True, filter_headers=["authorization"])
    with player.use_cassette(str(CASSETTES / "github" / f"{name}.yaml")) as cassette:
        client = GitHubClient(API, "ghp_playback-token-0000000000")
        collector = GitHubCollector(client, query, now=NOW)
        sink = TrunkSink(TOKEN, trunk.url, batch_events=50)
        skip = SkipPolicy()
        summary = deliver(collector(State(":memory:"), skip), sink, skip=skip)
        sink.close()
        assert cassette.all_played
        return summary, cassette.play_count, collector


def test_poll_covers_every_edge_case(trunk: TrunkStandIn) -> None:
    summary, requests, _ = play("poll", GitHubQuery(repos=(REPO,)), trunk)
    got = chains(trunk.all_events())
    assert trunk.conflicts == [] and trunk.rejected == []
    assert summary.skipped == []

    # the in-progress run is left out; every finished attempt is its own chain
    assert sorted(got) == [
        (sc.MATRIX_RUN, 1),
        (sc.RERUN_RUN, 1),
        (sc.RERUN_RUN, 2),
        (sc.MANY_JOBS_RUN, 1),
        (sc.SKIPPED_RUN, 1),
        (sc.OUTCOMES_RUN, 1),
        (sc.STARTUP_FAILURE_RUN, 1),
    ]
    # list page + 8 job pages + attempt 1 of the re-run = 10 requests for 7 attempts
    assert requests == 10

    matrix = got[(sc.MATRIX_RUN, 1)]
    assert matrix.kinds() == {"workflow": 1, "job": 4, "step": 16}
    assert sorted(j["sequence"]["name"] for j in matrix.jobs()) == [
        "test (3.11, macos-latest)",
        "test (3.11, ubuntu-latest)",
        "test (3.12, macos-latest)",
        "test (3.12, ubuntu-latest)",
    ]
    root = tags(matrix.root)
    assert root["pr_number"] == "42" and root["trigger"] == "pull_request"
    assert root["branch"] == "feature/x" and root["workflow"] == ".github/workflows/ci.yml"
    assert "queue_ms" not in metrics(matrix.root)
    job = matrix.jobs()[0]
    assert metrics(job)["queue_ms"] == 20_000
    assert tags(job)["runner_labels"] == "ubuntu-latest"
    assert tags(job)["runner_group"] == "GitHub Actions"

    first, second = got[(sc.RERUN_RUN, 1)], got[(sc.RERUN_RUN, 2)]
    assert first.root["id"] != second.root["id"]
    assert sorted(j["sequence"]["name"] for j in first.jobs()) == ["build", "test"]
    assert first.root.get("conclusion") == "FAILURE"
    # attempt 2 holds only the job it re-ran; "build" belongs to attempt 1
    assert [j["sequence"]["name"] for j in second.jobs()] == ["test"]
    assert second.root.get("conclusion") == "SUCCESS"
    assert tags(second.root)["triggering_actor"] == "re-runner"
    assert second.root["createdAt"] == first.root["createdAt"] + 30 * sc.MIN
    assert second.root["finishedAt"] == second.job("test")["finishedAt"]

    many = got[(sc.MANY_JOBS_RUN, 1)]
    assert many.kinds()["job"] == sc.MANY_JOBS
    assert many.root["sequence"]["key"] == ".github/workflows/matrix.yml"
    assert many.root["finishedAt"] == max(j["finishedAt"] for j in many.jobs())

    skipped = got[(sc.SKIPPED_RUN, 1)].job("deploy")
    assert skipped["conclusion"] == "SKIPPED"
    assert skipped["createdAt"] == skipped["finishedAt"]
    assert tags(skipped)["timestamps_repaired"] == "true"
    assert "queue_ms" not in metrics(skipped)

    outcomes = got[(sc.OUTCOMES_RUN, 1)]
    assert {j["sequence"]["name"]: j["conclusion"] for j in outcomes.jobs()} == {
        "unit": "FAILURE",
        "lint": "CANCELLED",
        "e2e": "TIMED_OUT",
        "flaky clock": "SUCCESS",
    }
    assert tags(outcomes.job("e2e"))["result"] == "timed_out"
    assert tags(outcomes.job("flaky clock"))["timestamps_repaired"] == "true"

    startup = got[(sc.STARTUP_FAILURE_RUN, 1)]
    assert startup.kinds() == {"workflow": 1}
    assert startup.root["conclusion"] == "FAILURE"
    assert tags(startup.root)["result"] == "startup_failure"


def test_run_id_collects_every_attempt_of_a_rerun(trunk: TrunkStandIn) -> None:
    summary, requests, collector = play(
        "rerun_run_id", GitHubQuery(repos=(REPO,), run_id=sc.RERUN_RUN), trunk
    )
    got = chains(trunk.all_events())
    assert sorted(got) == [(sc.RERUN_RUN, 1), (sc.RERUN_RUN, 2)]
    assert requests == 4  # the run, attempt 1, and one job page per attempt
    assert collector.events == len(trunk.events) == summary.events
