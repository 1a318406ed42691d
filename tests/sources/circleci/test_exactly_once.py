"""CircleCI through the real CLI: one cursor per --branch filter, nothing left to recheck."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.servers.circleci import TOKEN, CircleCIWorld, ids, running_circleci
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn

NOW = datetime.now(timezone.utc)


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def finished(world: CircleCIWorld, number: int, hours_ago: float, branch: str) -> str:
    pipeline = world.add_pipeline(number, ago(hours_ago), branch=branch)
    seed = f"wf-{branch}-{number}"
    workflow = world.add_workflow(
        pipeline, seed, "ci", "success", ago(hours_ago), ago(hours_ago - 0.1)
    )
    world.add_job(workflow, "build", "success", ago(hours_ago - 0.01), ago(hours_ago - 0.1))
    return ids(seed)


@pytest.fixture
def world() -> Iterator[CircleCIWorld]:
    world = CircleCIWorld(page_size=2)
    with running_circleci(world):
        yield world


def poll(world: CircleCIWorld, trunk: TrunkStandIn, state: Path, *extra: str) -> None:
    done = run_cli(
        "circleci", "--project-slug", "github/acme/widgets",
        "--circleci-api-url", world.api_url, "--trunk-url", trunk.url,
        "--trunk-token", TRUNK_TOKEN, "--state", str(state), *extra,
        env={"CIRCLECI_TOKEN": TOKEN}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def workflows(trunk: TrunkStandIn) -> set[str]:
    found = set()
    for event in trunk.all_events():
        if "parent" not in event:
            tags = {t["k"]: t["v"] for t in event["payload"]["tags"]}  # type: ignore[index]
            found.add(str(tags["workflow_id"]))
    return found


def show(state: Path) -> list[dict[str, Any]]:
    shown = run_cli("state", "show", "--json", "--state", str(state))
    assert shown.returncode == 0, shown.stderr
    rows: list[dict[str, Any]] = json.loads(shown.stdout)
    return rows


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (("--branch", "main"), ("--branch", "feature/x")),
        (("--branch", "main"), ()),
        (("--branch", "feature/x"), ("--branch", "main")),
    ],
)
def test_a_branch_poll_does_not_move_other_filters_cursor(
    world: CircleCIWorld,
    trunk: TrunkStandIn,
    tmp_path: Path,
    first: tuple[str, ...],
    then: tuple[str, ...],
) -> None:
    """Each branch has an old pipeline (5 days) and a new one (1 hour); lookback 1 day."""
    made = {
        branch: {finished(world, base + n, hours, branch) for n, hours in ((1, 120), (2, 1))}
        for base, branch in ((0, "main"), (10, "feature/x"))
    }
    state = tmp_path / "state.sqlite"
    poll(world, trunk, state, "--lookback", "1d", *first)
    assert workflows(trunk) == made[first[1]]
    poll(world, trunk, state, "--lookback", "1d", *then)
    expected = made[then[1]] if then else made["main"] | made["feature/x"]
    assert expected <= workflows(trunk), "the second filter's older pipelines were skipped"
    assert max(trunk.deliveries.values()) == 1


def test_a_poll_that_delivered_everything_leaves_nothing_to_recheck(
    world: CircleCIWorld, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    made = {finished(world, n, hours, "main") for n, hours in ((1, 30), (2, 20), (3, 10))}
    state = tmp_path / "state.sqlite"
    poll(world, trunk, state)
    assert workflows(trunk) == made
    [row] = show(state)
    newest = int(ago(10).timestamp()) * 1000
    assert row["last_success"]
    cursor = row["cursor"]
    assert "candidate" not in json.dumps(cursor)  # nothing waits to be confirmed
    watermark = cursor.get("all", cursor)["pipelines_settled_before"]
    assert abs(watermark - newest) < 1000  # everything up to the newest pipeline is done
