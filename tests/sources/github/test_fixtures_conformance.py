"""Every real GitHub recording that is a run or a job list maps to a valid chain.

The recordings are read in place from ``shared/fixtures/github`` (third-party data).
A job list recorded without its run gets a minimal stand-in run built from the jobs'
own fields, so the job and step mapping is still exercised on real bodies.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Repo
from ci_collector.sinks.base import encode
from ci_collector.sources.github.mapping import attempt_of, build_run, is_finished
from ci_collector.times import iso_to_ms
from ci_collector.trunk_contract import body_problems
from tests.conftest import SHARED_FIXTURES, recorded_names

FIXTURES = SHARED_FIXTURES / "github"
REPO = Repo("github.com", "fixture-owner", "fixture-repo")
pytestmark = pytest.mark.usefixtures("shared_recordings")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _kind(body: Any) -> str | None:
    if isinstance(body, list):
        if body and isinstance(body[0], dict) and "data" in body[0]:
            sample = body[0]["data"]
            return "job_items" if "steps" in sample else "run_items"
        return None
    if "workflow_runs" in body:
        return "run_list"
    if "jobs" in body:
        return "job_list"
    if "run_number" in body:
        return "run"
    if "steps" in body and "run_id" in body:
        return "job"
    return None


RECORDINGS = recorded_names("github", "*.json", keep=lambda path: _kind(_load(path)) is not None)


def _check(run: dict[str, Any], jobs: list[dict[str, Any]]) -> int:
    """Map one attempt; the request body must satisfy the contract. Returns event count."""
    built = build_run(REPO, run, jobs, source="github:test")
    events = map_run(built)
    body = encode(
        {"repo": {"host": REPO.host, "owner": REPO.owner, "name": REPO.name}, "events": events}
    )
    assert body_problems(body) == []
    own_jobs = [j for j in jobs if j.get("run_attempt", attempt_of(run)) == attempt_of(run)]
    steps = sum(len(j.get("steps") or []) for j in own_jobs)
    assert len(events) == 1 + len(own_jobs) + steps
    assert events[0]["sequence"]["kind"] == "workflow"
    assert all(e["chainId"] == events[0]["id"] for e in events)
    return len(events)


def recorded_job_runs(kind: str, body: Any) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """A recording of jobs (a list page, one job, or items) as (stand-in run, its jobs) pairs."""
    if kind == "job_list":
        jobs = body["jobs"]
    elif kind == "job":
        jobs = [body]
    else:
        jobs = [item["data"] for item in body]
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        by_run[job["run_id"]].append(job)
    return [(_stand_in_run(run_jobs), run_jobs) for run_jobs in by_run.values()]


def _stand_in_run(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A finished run around recorded jobs, from the jobs' own fields."""
    first = jobs[0]
    created = min(j.get("created_at") or j["started_at"] for j in jobs)
    return {
        "id": first["run_id"],
        "run_attempt": first.get("run_attempt") or 1,
        "name": first.get("workflow_name") or "recorded workflow",
        "path": ".github/workflows/recorded.yml",
        "head_branch": first.get("head_branch"),
        "head_sha": first.get("head_sha"),
        "status": "completed",
        "conclusion": "success",
        "created_at": created,
        "run_started_at": created,
        "run_number": 1,
        "updated_at": created,
        "html_url": first.get("html_url"),
    }


def test_every_recording_is_covered() -> None:
    kinds = {name: _kind(_load(FIXTURES / name)) for name in RECORDINGS}
    assert len(kinds) >= 30
    assert set(kinds.values()) == {"run", "run_list", "job_list", "job", "run_items", "job_items"}


@pytest.mark.parametrize("name", RECORDINGS, ids=lambda name: name.removesuffix(".json")[:60])
def test_recording_maps(name: str) -> None:
    path = FIXTURES / name
    body = _load(path)
    kind = _kind(body)
    if kind == "run":
        jobs_file = path.with_name(path.stem + "_jobs.json")
        jobs = _load(jobs_file)["jobs"] if jobs_file.exists() else []
        assert _check(body, jobs) >= 1
    elif kind in ("run_list", "run_items"):
        runs = body["workflow_runs"] if kind == "run_list" else [item["data"] for item in body]
        for run in runs:
            if is_finished(run):
                _check(run, [])
    else:
        for run, run_jobs in recorded_job_runs(kind, body):
            assert _check(run, run_jobs) > 1


def test_recorded_pair_keeps_real_values() -> None:
    """The one real run + jobs pair with skipped steps maps faithfully, value by value."""
    stem = "otelcicd_step_security_skip_duplicate_actions_run16620109074"
    run = _load(FIXTURES / f"{stem}.json")
    jobs = _load(FIXTURES / f"{stem}_jobs.json")
    events = map_run(build_run(REPO, run, jobs["jobs"], source="github:test"))
    root_tags = {t["k"]: t["v"] for t in events[0]["payload"]["tags"]}
    assert root_tags["workflow"] == ".github/workflows/test.yml"
    assert root_tags["pr_number"] == "305"
    assert root_tags["actor"] == "dependabot[bot]"
    assert root_tags["trigger"] == "pull_request"
    assert root_tags["run_number"] == "379"
    kinds = defaultdict(int)
    for event in events:
        kinds[event["sequence"]["kind"]] += 1
    assert kinds["job"] == 5
    steps = [e for e in events if e["sequence"]["kind"] == "step"]
    skipped = [e for e in steps if e.get("conclusion") == "SKIPPED"]
    assert skipped, "the recording has skipped steps"
    key = ".github/workflows/test.yml/pre_job"
    pre_job = next(e for e in events if e["sequence"]["key"] == key)
    metrics = {m["k"]: m["v"] for m in pre_job["payload"]["metrics"]}
    assert metrics["queue_ms"] == 9000  # created 10:30:31, started 10:30:40
    labels = {t["k"]: t["v"] for t in pre_job["payload"]["tags"]}["runner_labels"]
    assert labels == "ubuntu-latest"
    # the run ends at its last job's completion, not at updated_at (10:31:43)
    last_completion = max(j["completed_at"] for j in jobs["jobs"])
    assert events[0]["finishedAt"] == _ms(last_completion)


def _ms(text: str) -> int:
    value = iso_to_ms(text)
    assert value is not None
    return value
