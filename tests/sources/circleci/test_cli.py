"""The real ``ci-collector circleci`` command, in a subprocess, against loopback servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.servers.circleci import TOKEN, CircleCIWorld, ids, running_circleci
from tests.servers.trunk import TOKEN as TRUNK_TOKEN
from tests.servers.trunk import TrunkStandIn

NOW = datetime.now(timezone.utc)
FINISHED = ("wf-ok", "wf-failed", "wf-rerun", "wf-deploy")


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.fixture
def world() -> Iterator[CircleCIWorld]:
    world = CircleCIWorld(page_size=2)
    one = world.add_pipeline(1, ago(50))
    ok = world.add_workflow(one, "wf-ok", "ci", "success", ago(50), ago(49.9))
    world.add_job(ok, "build", "success", ago(49.99), ago(49.9))
    two = world.add_pipeline(2, ago(40))
    failed = world.add_workflow(two, "wf-failed", "ci", "failed", ago(40), ago(39.9))
    world.add_job(failed, "test", "failed", ago(39.99), ago(39.9))
    rerun = world.add_workflow(two, "wf-rerun", "ci", "success", ago(39), ago(38.9))
    world.add_job(rerun, "test", "success", ago(38.99), ago(38.9))
    three = world.add_pipeline(3, ago(30))
    deploy = world.add_workflow(three, "wf-deploy", "deploy", "success", ago(30), ago(28))
    world.add_job(deploy, "hold", "success", ago(30), ago(28.5), kind="approval")
    world.add_job(deploy, "ship", "success", ago(28.4), ago(28))
    four = world.add_pipeline(4, ago(1))
    world.add_workflow(four, "wf-running", "ci", "running", ago(1), None)
    with running_circleci(world):
        yield world


def cli(world: CircleCIWorld, *args: str, token: str = TOKEN):  # type: ignore[no-untyped-def]
    return run_cli(
        "circleci",
        "--project-slug",
        "github/acme/widgets",
        "--circleci-api-url",
        world.api_url,
        *args,
        env={"CIRCLECI_TOKEN": token},
        timeout=60,
    )


def test_end_to_end_to_trunk_then_a_quiet_second_poll(
    world: CircleCIWorld, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    args = (
        "--trunk-url",
        trunk.url,
        "--trunk-token",
        TRUNK_TOKEN,
        "--state",
        str(tmp_path / "state.sqlite"),
    )
    first = cli(world, *args)
    assert first.returncode == 0, first.stderr
    roots = [e for e in trunk.all_events() if "parent" not in e]
    assert {str(r["chainId"]) for r in roots} == {str(r["id"]) for r in roots}
    assert len(roots) == len(FINISHED) and len(trunk.events) == len(FINISHED) + 5
    kinds = sorted(str(e["sequence"]["kind"]) for e in trunk.all_events())  # type: ignore[index]
    assert kinds.count("approval") == 1 and kinds.count("workflow") == 4
    assert TOKEN not in first.stderr and TRUNK_TOKEN not in first.stderr

    posts = trunk.posts
    second = cli(world, *args)
    assert second.returncode == 0, second.stderr
    assert trunk.posts == posts
    assert "sent 0 events of 0 runs" in second.stderr

    state = run_cli("state", "show", "--json", "--state", str(tmp_path / "state.sqlite"))
    [row] = json.loads(state.stdout)
    assert row["source"] == "circleci:127.0.0.1/gh/acme/widgets"
    assert row["runs_delivered"] == len(FINISHED) and row["cursor"]


def test_dry_run_yields_one_chain_per_finished_workflow_and_validates(
    world: CircleCIWorld, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = cli(world, "--output", str(out))
    assert result.returncode == 0, result.stderr
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)["events"]]
    chains = {e["chainId"] for e in events}
    roots = {e["id"]: e for e in events if "parent" not in e}
    assert chains == set(roots) and len(chains) == len(FINISHED)
    workflow_ids = {
        t["v"] for r in roots.values() for t in r["payload"]["tags"] if t["k"] == "workflow_id"
    }
    assert workflow_ids == {ids(seed) for seed in FINISHED}
    checked = run_cli("validate", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert TOKEN not in out.read_text()


@pytest.mark.parametrize("slug", ["acme/widgets", "gitlab/acme/widgets", "gh/acme"])
def test_bad_slug_is_one_line_and_exit_2(slug: str, tmp_path: Path) -> None:
    result = run_cli(
        "circleci",
        "--project-slug",
        slug,
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"CIRCLECI_TOKEN": TOKEN},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--project-slug" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_token_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "circleci", "--project-slug", "gh/acme/widgets", "--output", str(tmp_path / "o.jsonl")
    )
    assert result.returncode == 2 and "CIRCLECI_TOKEN" in result.stderr


def test_rejected_token_exits_1_without_showing_it(world: CircleCIWorld, tmp_path: Path) -> None:
    wrong = "wrong-circle-token-987654321"
    result = cli(world, "--output", str(tmp_path / "o.jsonl"), token=wrong)
    assert result.returncode == 1
    assert "CircleCI rejected the token" in result.stderr and wrong not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # SIGKILL of a real process
def test_killed_mid_poll_then_rerun_delivers_every_event(
    world: CircleCIWorld, trunk: TrunkStandIn, tmp_path: Path
) -> None:
    """SIGKILL after the first chains were accepted; the re-run completes, nothing doubles."""
    world.slow[f"/workflow/{ids('wf-ok')}/job"] = 30.0  # the oldest workflow, fetched last
    args = [
        "circleci",
        "--project-slug",
        "gh/acme/widgets",
        "--circleci-api-url",
        world.api_url,
        "--trunk-url",
        trunk.url,
        "--batch-size",
        "1",
        "--state",
        str(tmp_path / "state.sqlite"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUNK_", "CIRCLECI_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), CIRCLECI_TOKEN=TOKEN, TRUNK_API_TOKEN=TRUNK_TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "ci_collector", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while world.requests_to(ids("wf-ok")) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    partial = len(trunk.events)
    assert 0 < partial < len(FINISHED) + 5

    world.slow.clear()
    again = run_cli(*args, env={"CIRCLECI_TOKEN": TOKEN, "TRUNK_API_TOKEN": TRUNK_TOKEN})
    assert again.returncode == 0, again.stderr
    assert len(trunk.events) == len(FINISHED) + 5 and trunk.conflicts == []
    assert world.requests_to(f"/workflow/{ids('wf-deploy')}/job") == 1  # delivered: not refetched
