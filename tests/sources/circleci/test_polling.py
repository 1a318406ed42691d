"""Polling a CircleCI stand-in on loopback through the real pipeline, state and Trunk sink.

Each poll runs `collect` in-process (lock, sink, state), so what is delivered, what is
marked delivered and where the cursor goes are the real thing; requests are counted by
the stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ci_collector.commands.common import DeliveryConfig, collect
from ci_collector.errors import ComeBackLater, RemoteError
from ci_collector.pipeline import Item, SkipPolicy
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.cursor import filter_name, resume_point
from ci_collector.sources.circleci.mapping import Project
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.state import State
from tests.servers.base import Reply
from tests.servers.circleci import TOKEN, CircleCIWorld, ids, running_circleci
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PROJECT = Project("gh/acme/widgets", "127.0.0.1", "http://127.0.0.1")


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.fixture
def world() -> Iterator[CircleCIWorld]:
    """Three pipelines: a plain success, a failure, and an approval still on hold."""
    world = CircleCIWorld(page_size=2)
    first = world.add_pipeline(1, ago(30))
    ok = world.add_workflow(first, "wf-1", "ci", "success", ago(30), ago(29.9))
    world.add_job(ok, "build", "success", ago(29.99), ago(29.9))
    second = world.add_pipeline(2, ago(20))
    bad = world.add_workflow(second, "wf-2", "ci", "failed", ago(20), ago(19.9))
    world.add_job(bad, "build", "success", ago(19.99), ago(19.95))
    world.add_job(bad, "test", "failed", ago(19.95), ago(19.9))
    third = world.add_pipeline(3, ago(10))
    held = world.add_workflow(third, "wf-3", "release", "on_hold", ago(10), None)
    world.add_job(held, "build", "success", ago(9.99), ago(9.9))
    world.add_job(held, "approve", "on_hold", ago(9.9), None, kind="approval")
    with running_circleci(world):
        yield world


class Poller:
    """Runs polls like the CLI would, recording the waits the client asked for."""

    def __init__(self, world: CircleCIWorld, trunk: TrunkStandIn, tmp: Path) -> None:
        self.world, self.trunk, self.tmp = world, trunk, tmp
        self.state_path = tmp / "state.sqlite"
        self.waits: list[float] = []
        self.skipped: list[str] = []

    def __call__(self, **source: Any) -> int:
        config = DeliveryConfig(
            trunk_token=TRUNK_TOKEN,
            trunk_url=self.trunk.url,
            output=None,
            state_path=str(self.state_path),
            batch_size=100,
            dead_letter=str(self.tmp / "dead.jsonl"),
            retry_seconds=5.0,
            timeout=5.0,
            insecure=False,
            fail_fast=False,
            wait=False,
        )

        def runs(state: State, skip: SkipPolicy) -> Iterator[Item]:
            client = CircleCIClient(
                TOKEN,
                self.world.api_url,
                backoff_base=0.01,
                retry_budget=source.pop("budget", 5.0),
                sleep=self.waits.append,
            )
            with client:
                yield from CircleCISource(client, PROJECT, now=NOW, **source)(state, skip)
            self.skipped = list(skip.skipped)

        return collect(config, runs)

    def cursor(self, branch: str | None = None) -> int | None:
        with State(self.state_path) as state:
            return resume_point(state.cursor(PROJECT.source), filter_name(branch))


@pytest.fixture
def poll(world: CircleCIWorld, trunk: TrunkStandIn, tmp_path: Path) -> Poller:
    return Poller(world, trunk, tmp_path)


def roots(trunk: TrunkStandIn) -> dict[str, dict[str, Any]]:
    found = {}
    for event in trunk.all_events():
        if "parent" not in event:
            tags = {t["k"]: t["v"] for t in event["payload"]["tags"]}  # type: ignore[index]
            found[str(tags["workflow_id"])] = event
    return found


def test_second_poll_with_nothing_new_sends_nothing_then_the_approved_workflow(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    assert poll() == 0
    assert set(roots(trunk)) == {ids("wf-1"), ids("wf-2")}
    assert len(trunk.events) == 2 + 3
    assert world.requests_to("/job") == 2
    posts, before = trunk.posts, world.request_count

    assert poll() == 0
    assert trunk.posts == posts  # nothing sent
    assert world.requests_to("/job") == 2  # no job list fetched again
    assert world.request_count - before == 2 + 3  # pipeline pages + one workflow list each

    held = world.workflows[world.pipelines[0]["id"]][0]
    held.update(status="success", stopped_at=world.jobs[held["id"]][1]["started_at"])
    approval = world.jobs[held["id"]][1]
    approval.update(status="success", stopped_at=held["stopped_at"])
    assert poll() == 0
    assert set(roots(trunk)) == {ids("wf-1"), ids("wf-2"), ids("wf-3")}
    assert world.requests_to("/job") == 3
    assert max(trunk.deliveries.values()) == 1 and trunk.conflicts == []


def test_cursor_moves_only_over_pipelines_settled_before_the_poll(
    poll: Poller, world: CircleCIWorld
) -> None:
    created = [
        int(datetime.fromisoformat(p["created_at"].replace("Z", "+00:00")).timestamp() * 1000)
        for p in reversed(world.pipelines)
    ]
    poll()
    assert poll.cursor() == created[2]  # 1 and 2 were sent and acknowledged; 3 is on hold
    poll()
    assert poll.cursor() == created[2]  # 3 still on hold
    held = world.workflows[world.pipelines[0]["id"]][0]
    held.update(status="canceled", stopped_at=world.jobs[held["id"]][0]["stopped_at"])
    poll()
    poll()
    assert poll.cursor() == created[2]  # everything settled: the newest pipeline


def test_rerun_of_an_older_workflow_is_a_new_attempt(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    poll()
    poll()
    second = world.pipelines[1]
    rerun = world.add_workflow(second, "wf-2-rerun", "ci", "success", ago(5), ago(4.9))
    world.add_job(rerun, "test", "success", ago(4.99), ago(4.9))
    poll()
    root = roots(trunk)[ids("wf-2-rerun")]
    tags = {t["k"]: t["v"] for t in root["payload"]["tags"]}
    assert tags["attempt"] == "2" and tags["rerun_of"] == ids("wf-2")
    assert root["sequence"]["key"] == roots(trunk)[ids("wf-2")]["sequence"]["key"] == "ci"


def test_pipelines_behind_the_lookback_are_not_listed_again(
    poll: Poller, world: CircleCIWorld
) -> None:
    poll()
    held = world.workflows[world.pipelines[0]["id"]][0]
    held.update(status="canceled", stopped_at=world.jobs[held["id"]][0]["stopped_at"])
    poll()
    poll()
    oldest = world.pipelines[-1]["id"]
    before = world.requests_to(oldest)
    poll(lookback=timedelta(hours=5))
    assert world.requests_to(oldest) == before


def test_rate_limit_is_waited_out_as_asked(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    world.faults += [Reply(429, b"{}", {"Retry-After": "0.5"}), Reply(502, b"")]
    assert poll() == 0
    assert poll.waits[0] >= 0.5 and len(poll.waits) == 2
    assert len(roots(trunk)) == 2


def test_rate_limit_longer_than_the_budget_comes_back_later(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    world.faults.append(Reply(429, b"{}", {"Retry-After": "3600"}))
    with pytest.raises(ComeBackLater, match="run again later"):
        poll()
    assert trunk.posts == 0 and poll.cursor() is None


def test_rejected_token_is_a_remote_error(poll: Poller, world: CircleCIWorld) -> None:
    world.faults.append(Reply(401, b'{"message":"You must log in first."}'))
    with pytest.raises(RemoteError, match="CIRCLECI_TOKEN"):
        poll()


def test_malformed_items_skip_their_workflow_with_a_warning(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    world.broken[f"/workflow/{ids('wf-2')}/job"] = b"<html>oops</html>"
    nameless = world.add_workflow(world.pipelines[2], "wf-1b", "lint", "success", ago(30), ago(29))
    del nameless["name"]
    assert poll() == 0
    assert set(roots(trunk)) == {ids("wf-1")}
    assert any(ids("wf-2") in line and "not JSON" in line for line in poll.skipped)
    assert any(ids("wf-1b") in line and "no id or name" in line for line in poll.skipped)


def test_deleted_project_is_one_remote_error(poll: Poller, world: CircleCIWorld) -> None:
    world.slug = "gh/acme/other"
    with pytest.raises(RemoteError, match="not found"):
        poll()


def test_job_details_only_for_a_job_that_ran_without_times(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    build = world.jobs[ids("wf-1")][0]
    build["stopped_at"] = None
    world.job_details[build["job_number"]] = {
        "number": build["job_number"],
        "status": "success",
        "queued_at": build["created_at"],
        "started_at": build["started_at"],
        "stopped_at": world.workflows[world.pipelines[2]["id"]][0]["stopped_at"],
    }
    poll()
    assert world.requests_to("/project/gh/acme/widgets/job/") == 1
    job = next(
        e
        for e in trunk.all_events()
        if e["id"] != roots(trunk)[ids("wf-1")]["id"]
        and e["chainId"] == roots(trunk)[ids("wf-1")]["id"]
    )
    tags = {t["k"] for t in job["payload"]["tags"]}  # type: ignore[index]
    assert "timestamps_repaired" not in tags


def test_branch_filter_is_passed_to_the_pipeline_list(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    other = world.add_pipeline(4, ago(2), branch="feature/x")
    done = world.add_workflow(other, "wf-4", "ci", "success", ago(2), ago(1.9))
    world.add_job(done, "build", "success", ago(1.99), ago(1.9))
    poll(branch="feature/x")
    assert set(roots(trunk)) == {ids("wf-4")}
    assert all(
        "branch=feature%2Fx" in r.path
        for r in world.server.requests
        if r.path.split("?")[0].endswith("/pipeline")
    )


def test_after_a_delivered_backfill_the_next_poll_starts_near_the_newest(
    poll: Poller, world: CircleCIWorld
) -> None:
    held = world.workflows[world.pipelines[0]["id"]][0]
    held.update(status="success", stopped_at=world.jobs[held["id"]][0]["stopped_at"])
    poll(since=ago(24 * 30))
    oldest = world.pipelines[-1]["id"]
    before = world.requests_to(oldest)
    poll(lookback=timedelta(hours=1))
    assert world.requests_to(oldest) == before  # the backfill's checkpoint was written


def test_a_refused_chain_keeps_the_strict_cursor_and_is_sent_again(
    poll: Poller, world: CircleCIWorld, trunk: TrunkStandIn
) -> None:
    # the body, then each of its two chains alone (a refused body is split between chains)
    trunk.faults.extend([Reply(400, b'{"error":"refused"}')] * 3)
    assert poll() == 1  # dead-lettered
    assert roots(trunk) == {}
    oldest = world.pipelines[-1]["id"]
    before = world.requests_to(oldest)
    assert poll(lookback=timedelta(hours=1)) == 0
    assert world.requests_to(oldest) == before + 1  # strict cursor: listed again
    assert set(roots(trunk)) == {ids("wf-1"), ids("wf-2")}
