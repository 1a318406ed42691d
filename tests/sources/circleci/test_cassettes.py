"""The collector against hand-made CircleCI traffic (cassettes/circleci, see make_cassettes).

Playback only (record_mode none): a request the story does not expect fails the test,
so the cassette also pins down how many requests a poll makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import vcr

from ci_collector.errors import RemoteError
from ci_collector.mapper import map_run
from ci_collector.model import Run
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.mapping import Project
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.state import State
from ci_collector.trunk_contract import body_problems
from tests.conftest import CASSETTES
from tests.sources.circleci.make_cassettes import SINCE, story

CIRCLE = CASSETTES / "circleci"
PLAYER = vcr.VCR(
    cassette_library_dir=str(CIRCLE),
    record_mode="none",
    filter_headers=["Circle-Token"],
    match_on=("method", "scheme", "host", "port", "path", "query"),
)
PROJECT = Project("gh/acme/widgets", "circleci.com", "https://app.circleci.com")
NOW = datetime(2024, 5, 10, 13, tzinfo=timezone.utc)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with State(tmp_path / "state.sqlite") as db:
        yield db


def poll(state: State, cassette: str) -> tuple[list[Run], SkipPolicy, int]:
    skip = SkipPolicy()
    with (
        PLAYER.use_cassette(cassette) as tape,
        CircleCIClient("cassette-token-not-recorded", backoff_base=0.0) as client,
    ):
        items = CircleCISource(client, PROJECT, since=SINCE, now=NOW)(state, skip)
        runs = [item for item in items if isinstance(item, Run)]
        assert tape.all_played
        return runs, skip, tape.play_count


def test_poll_sends_finished_workflows_only_across_pages(state: State) -> None:
    runs, skip, requests = poll(state, "poll.yaml")
    _, named = story()
    assert skip.skipped == []
    assert requests == 9  # 2 pipeline pages + 3 workflow lists + 4 job pages; none for 101/104
    assert [run.natural_key.rsplit("/", 1)[1] for run in runs] == [
        named["failed"]["id"],
        named["rerun"]["id"],
        named["deploy"]["id"],
    ]
    assert named["held"]["id"] not in {run.root.tags["workflow_id"] for run in runs}
    for run in runs:
        events = map_run(run)
        body = {
            "repo": {"host": "github.com", "owner": "acme", "name": "widgets"},
            "events": events,
        }
        assert body_problems(json.dumps(body).encode()) == []


def test_failed_workflow_and_its_rerun_are_two_attempts(state: State) -> None:
    runs, _, _ = poll(state, "poll.yaml")
    failed, rerun = runs[0].root, runs[1].root
    assert (failed.conclusion.value if failed.conclusion else None) == "FAILURE"
    assert [c.result for c in failed.children] == ["success", "failed"]
    assert failed.tags["attempt"] == "1" and "rerun_of" not in {
        k for k, v in failed.tags.items() if v
    }
    assert rerun.tags["attempt"] == "2"
    assert rerun.tags["rerun_of"] == failed.tags["workflow_id"]
    assert map_run(runs[0])[0]["sequence"]["key"] == map_run(runs[1])[0]["sequence"]["key"]
    assert map_run(runs[0])[0]["id"] != map_run(runs[1])[0]["id"]


def test_job_list_pages_and_the_approval_job(state: State) -> None:
    runs, _, _ = poll(state, "poll.yaml")
    deploy = runs[2].root
    assert [(c.kind, c.name) for c in deploy.children] == [
        ("job", "build"),
        ("approval", "hold"),
        ("job", "deploy"),
    ]
    hold = deploy.children[1]
    assert hold.metrics == {"pause_ms": 55 * 60_000}
    assert deploy.tags["branch"] == "main" and deploy.tags["actor"] == "octocat"
    assert deploy.tags["trigger"] == "webhook" and deploy.tags["pipeline_number"] == "102"
    assert deploy.tags["sha"] == f"{102:040x}"


def test_delivered_workflows_are_not_fetched_again(state: State) -> None:
    first, _, _ = poll(state, "poll.yaml")
    for run in first:
        state.mark_delivered(run.natural_key, run.source, run.fingerprint, 1)
    skip = SkipPolicy()
    with (
        PLAYER.use_cassette("poll.yaml", allow_playback_repeats=True) as tape,
        CircleCIClient("cassette-token-not-recorded") as client,
    ):
        items = CircleCISource(client, PROJECT, since=SINCE, now=NOW)(state, skip)
        again = [item for item in items if isinstance(item, Run)]
        played = [tape.requests[index].uri for index in tape.play_counts]
    assert again == []
    assert tape.play_count == 5  # 2 pipeline pages + 3 workflow lists, no job requests
    assert not any(uri.endswith("/job") or "/job?" in uri for uri in played)


def test_rejected_token_is_one_remote_error(state: State) -> None:
    with PLAYER.use_cassette("rejected_token.yaml"), CircleCIClient("bad-token-1234") as client:
        source = CircleCISource(client, PROJECT, since=SINCE, now=NOW)
        with pytest.raises(RemoteError, match="CircleCI rejected the token") as raised:
            list(source(state, SkipPolicy()))
    assert "\n" not in str(raised.value) and "bad-token-1234" not in str(raised.value)


def test_cassettes_hold_no_token() -> None:
    for path in CIRCLE.glob("*.yaml"):
        text = path.read_text().lower()
        assert "circle-token" not in text and "cassette-token" not in text
