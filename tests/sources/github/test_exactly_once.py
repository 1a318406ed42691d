"""GitHub through the real CLI, outside the happy path: what the cursor may claim.

An outage longer than --lookback (Trunk down, an expired token, the machine off) must
not leave a gap; a poll that delivered everything leaves nothing pending; a re-run of a
run older than the look-back is out of polling's reach (the documented limit) and is
collected by the Action path, ``--run-id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.servers.base import Reply
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.github_bodies import job_body, run_body, standard_steps
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains

REPO = f"{sc.OWNER}/{sc.NAME}"
NOW_MS = int(datetime.now(timezone.utc).timestamp() * 1000)
DAY = 24 * sc.HOUR


def add_run(model: GitHubModel, run_id: int, days_ago: float, attempt: int = 1) -> None:
    created = NOW_MS - int(days_ago * DAY)
    started = created + (attempt - 1) * int(days_ago * DAY / 2)  # a re-run starts later
    run = run_body(sc.OWNER, sc.NAME, run_id, created=created, started=started, attempt=attempt)
    job = job_body(
        sc.OWNER, sc.NAME, run, run_id * 10 + attempt, "test",
        created=started, started=started + 5000, completed=started + 65_000,
        steps=standard_steps(started + 5000),
    )  # fmt: skip
    model.add_attempt(sc.OWNER, sc.NAME, run, [job])


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with running_github(GitHubModel()) as server:
        yield server


def collect(github: GitHubServer, trunk: TrunkStandIn, state: Path, *extra: str) -> int:
    done = run_cli(
        "github", "--repo", REPO, "--state", str(state), "--retry-seconds", "0", *extra,
        env={"GITHUB_API_URL": github.url, "GITHUB_TOKEN": "ghp_once-test-token",
             "TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def delivered_runs(trunk: TrunkStandIn) -> set[str]:
    return set(chains(trunk.all_events()))


def show(state: Path) -> dict[str, Any]:
    shown = run_cli("state", "show", "--json", "--state", str(state))
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)
    return dict(row)


OUTAGES = {
    "machine off": (),
    "token expired": (Reply(401, b'{"error":"unauthorized"}'),),
    "trunk down": (Reply(503, b"down"),),
}


@pytest.mark.parametrize("outage", sorted(OUTAGES))
@pytest.mark.parametrize("lookback", ["1d", "3d"])
def test_an_outage_longer_than_the_lookback_loses_nothing(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path, outage: str, lookback: str
) -> None:
    state = tmp_path / "state.sqlite"
    add_run(github.model, 1, days_ago=11)
    # the last good poll, ten days ago (a backfill up to then writes the same cursor)
    assert collect(github, trunk, state, "--since", "12d", "--until", "10d") == 0
    assert len(delivered_runs(trunk)) == 1
    add_run(github.model, 2, days_ago=8)  # created while nothing was delivered
    add_run(github.model, 3, days_ago=5)
    add_run(github.model, 4, days_ago=0.1)
    for fault in OUTAGES[outage]:  # polls during the outage fail and must claim nothing
        trunk.faults.extend([fault] * 10)
        assert collect(github, trunk, state, "--lookback", lookback) in (1, 75)
        trunk.faults.clear()
    assert collect(github, trunk, state, "--lookback", lookback) == 0
    assert len(delivered_runs(trunk)) == 4, "runs created during the outage were lost"
    assert max(trunk.deliveries.values()) == 1 and trunk.conflicts == []


def test_a_poll_that_delivered_everything_leaves_nothing_pending(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    for run_id, days_ago in ((1, 2.5), (2, 1.5), (3, 0.5)):
        add_run(github.model, run_id, days_ago)
    state = tmp_path / "state.sqlite"
    assert collect(github, trunk, state) == 0
    assert len(delivered_runs(trunk)) == 3
    row = show(state)
    assert row["last_success"]
    assert set(row["cursor"]) == {"all"}
    assert set(row["cursor"]["all"]) == {"since", "until"}  # a plain span, nothing pending
    until = datetime.fromisoformat(row["cursor"]["all"]["until"].replace("Z", "+00:00"))
    assert until.timestamp() * 1000 >= NOW_MS - 0.5 * DAY  # it covers the newest run


def test_a_rerun_older_than_the_lookback_is_collected_by_run_id(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    add_run(github.model, 7, days_ago=6)
    assert collect(github, trunk, state, "--since", "7d") == 0
    add_run(github.model, 7, days_ago=6, attempt=2)  # re-run today of a 6-day-old run
    assert collect(github, trunk, state, "--lookback", "3d") == 0
    assert len(delivered_runs(trunk)) == 1  # the documented limit: polling cannot see it
    assert collect(github, trunk, state, "--run-id", "7") == 0
    assert len(delivered_runs(trunk)) == 2  # attempt 2 arrives; attempt 1 is not re-sent
    assert collect(github, trunk, state, "--run-id", "7") == 0
    assert max(trunk.deliveries.values()) == 1
