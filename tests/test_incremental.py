"""Issue 5 end to end: a backfill killed with SIGKILL resumes; overlapping cron runs queue.

The real CLI in subprocesses, a GitHub look-alike and the strict Trunk stand-in, all on
loopback. Trunk answers slowly on purpose so there is time to kill or overlap a run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.servers.base import Reply
from tests.servers.github import GitHubModel, GitHubServer, running_github
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as sc

pytestmark = pytest.mark.slow  # SIGKILL/resume and overlapping cron runs: real processes
RUNS = 240
BATCH = 20
REPO = f"{sc.OWNER}/{sc.NAME}"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    model = GitHubModel()
    sc.bulk(model, RUNS, start=now_ms - 5 * 24 * sc.HOUR, spacing_ms=25 * 60 * 1000)
    with running_github(model) as server:
        yield server


def slow_trunk(trunk: TrunkStandIn, seconds: float = 0.03) -> None:
    """Every answer comes `seconds` late (the body is stored first, as on a real server)."""
    trunk.faults.extend(Reply(200, delay=seconds) for _ in range(100_000))


def command(github: GitHubServer, state: Path, *extra: str) -> list[str]:
    return [
        "github",
        "--repo",
        REPO,
        "--since",
        "6d",
        "--state",
        str(state),
        "--batch-size",
        str(BATCH),
        *extra,
    ]


def environment(github: GitHubServer, trunk: TrunkStandIn | None) -> dict[str, str]:
    env = {"GITHUB_API_URL": github.url, "GITHUB_TOKEN": "ghp_incremental-test-token"}
    if trunk is not None:
        env.update(TRUNK_API_TOKEN=TOKEN, TRUNK_API_URL=trunk.url)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUNK_", "GITHUB_"))}
    full_env.update(env, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen(
        [sys.executable, "-m", "ci_collector", *args],
        env=full_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def expected_ids(github: GitHubServer, tmp_path: Path) -> set[str]:
    """What a fault-free dry run of the same backfill would send."""
    out = tmp_path / "expected.jsonl"
    done = run_cli(
        *command(github, tmp_path / "dry.sqlite", "--output", str(out)),
        env=environment(github, None),
    )
    assert done.returncode == 0, done.stderr
    ids = {
        event["id"] for line in out.read_text().splitlines() for event in json.loads(line)["events"]
    }
    assert len(ids) > RUNS * 3
    return ids


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_sigkill_mid_backfill_then_rerun_delivers_every_event_once(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    expected = expected_ids(github, tmp_path)
    slow_trunk(trunk)
    state = tmp_path / "state.sqlite"
    env = environment(github, trunk)

    victim = start(command(github, state), env)
    wait_for(lambda: len(trunk.events) >= len(expected) // 3)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    received_before = len(trunk.events)
    assert 0 < received_before < len(expected), "the kill must land mid-backfill"

    resumed = run_cli(*command(github, state), env=env)
    assert resumed.returncode == 0, resumed.stderr

    assert set(trunk.events) == expected
    assert trunk.conflicts == []  # every re-send was byte-identical
    resent = sum(trunk.deliveries.values()) - len(expected)
    # only what was in flight at the kill (accepted but not yet recorded) is sent again
    print(f"events {len(expected)}, received before kill {received_before}, re-sent {resent}")
    assert resent <= 2 * BATCH + 60, resent
    again = run_cli(*command(github, state), env=env)
    assert again.returncode == 0, again.stderr
    assert sum(trunk.deliveries.values()) - len(expected) == resent  # nothing new sent


def test_overlapping_invocations_one_delivers_the_other_yields(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    slow_trunk(trunk)
    state = tmp_path / "state.sqlite"
    env = environment(github, trunk)

    first = start(command(github, state), env)
    wait_for(lambda: len(trunk.events) > 0)
    second = run_cli(*command(github, state), env=env)
    assert second.returncode == 0
    assert second.stderr.strip().count("\n") == 0
    assert "another ci-collector is using" in second.stderr

    waiting = start(command(github, state, "--wait"), env)
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    assert waiting.wait(timeout=120) == 0
    delivered = sum(trunk.deliveries.values())
    assert delivered == len(trunk.events)  # the waiting run found everything delivered
    assert trunk.conflicts == []
