"""What lands in Trunk from CircleCI is right: every status concluded, one event per job,
one identity per project spelling, filter tags on every job, GitHub-hosted projects only.

Job and workflow shapes are the devlake recordings (../shared/fixtures/circleci), read in
place; the host rule runs the real source against the loopback stand-in.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.mapping import Attempt, Project, build_run, canonical_slug
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.state import State
from ci_collector.trunk import CONCLUSIONS
from tests.conftest import SHARED_FIXTURES, require_shared_recordings
from tests.servers.circleci import TOKEN, CircleCIWorld, running_circleci

FIXTURES = SHARED_FIXTURES / "circleci"
SLUG = "gh/coldgust/coldgust.github.io"


def load(name: str) -> Any:
    require_shared_recordings()
    return json.loads((FIXTURES / name).read_text())


def recorded() -> list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]:
    """(pipeline, workflow, jobs) of every recorded workflow that has jobs."""
    pipelines = {r["data"]["id"]: r["data"] for r in load("devlake_project_pipeline_items.json")}
    jobs: dict[str, list[dict[str, Any]]] = {}
    for row in load("devlake_workflow_job_items.json"):
        jobs.setdefault(row["request_url"].split("/")[-2], []).append(row["data"])
    found = []
    for row in load("devlake_pipeline_workflow_items.json"):
        workflow = row["data"]
        if jobs.get(workflow["id"]):
            found.append(
                (pipelines.get(workflow["pipeline_id"], {}), workflow, jobs[workflow["id"]])
            )
    assert found
    return found


def project(slug: str = SLUG) -> Project:
    return Project(canonical_slug(slug), "circleci.com", "https://app.circleci.com")


def events(
    pipeline: dict[str, Any], workflow: dict[str, Any], jobs: list[dict[str, Any]], slug: str = SLUG
) -> list[Any]:
    run = build_run(project(slug), pipeline, workflow, jobs, Attempt(1, None))
    return json.loads(json.dumps(map_run(run)))


def tags(event: Any) -> dict[str, Any]:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


@pytest.mark.parametrize(
    ("status", "kind", "started", "expected"),
    [
        ("terminated-unknown", "build", True, "FAILURE"),
        ("retried", "build", True, "FAILURE"),
        ("on_hold", "approval", False, "SKIPPED"),
        ("running", "build", True, "CANCELLED"),
        ("queued", "build", False, "SKIPPED"),
        ("not_running", "build", False, "SKIPPED"),
        ("blocked", "build", False, "SKIPPED"),
        ("unauthorized", "build", False, "SKIPPED"),
        ("infrastructure_fail", "build", True, "FAILURE"),
        ("timedout", "build", True, "TIMED_OUT"),
    ],
)
def test_every_job_status_in_a_finished_workflow_concludes(
    status: str, kind: str, started: bool, expected: str
) -> None:
    for pipeline, workflow, jobs in recorded():
        jobs = copy.deepcopy(jobs)
        jobs[0].update(status=status, type=kind)
        if not started:
            jobs[0].pop("started_at", None)
            jobs[0].pop("stopped_at", None)
        mapped = events(pipeline, workflow, jobs)
        assert all(event.get("conclusion") in CONCLUSIONS for event in mapped)
        job = next(e for e in mapped[1:] if tags(e).get("result") == status)
        assert job["conclusion"] == expected


@pytest.mark.parametrize(
    "status", ["success", "failed", "error", "canceled", "unauthorized", "not_run"]
)
def test_every_finished_workflow_status_concludes(status: str) -> None:
    for pipeline, workflow, jobs in recorded():
        workflow = {**workflow, "status": status}
        root = events(pipeline, workflow, jobs)[0]
        assert root["conclusion"] in CONCLUSIONS and tags(root)["result"] == status


def test_a_job_listed_twice_is_one_event() -> None:
    for pipeline, workflow, jobs in recorded():
        once = events(pipeline, workflow, jobs)
        twice = events(pipeline, workflow, [*jobs, *copy.deepcopy(jobs)])
        assert json.dumps(twice) == json.dumps(once)
        assert len({e["id"] for e in twice}) == len(twice)


@pytest.mark.parametrize(
    "spelling",
    [
        "gh/ColdGust/coldgust.github.io",
        "github/coldgust/Coldgust.GitHub.io",
        "GH/COLDGUST/coldgust.github.io/",
    ],
)
def test_any_spelling_of_the_project_slug_gives_byte_identical_events(spelling: str) -> None:
    for pipeline, workflow, jobs in recorded():
        assert json.dumps(events(pipeline, workflow, jobs, spelling)) == json.dumps(
            events(pipeline, workflow, jobs)
        )


def test_branch_sha_and_trigger_are_on_every_job() -> None:
    checked = 0
    for pipeline, workflow, jobs in recorded():
        mapped = events(pipeline, workflow, jobs)
        root = tags(mapped[0])
        for event in mapped[1:]:
            for key in ("branch", "sha", "trigger", "vcs_tag"):
                assert tags(event).get(key) == root.get(key)
                checked += key in root
    assert checked > 0


def test_sequence_payload_names_the_project_and_workflow_not_the_run() -> None:
    payloads = set()
    for pipeline, workflow, jobs in recorded():
        payload = events(pipeline, workflow, jobs)[0]["sequence"]["payload"]
        assert workflow["id"] not in json.dumps(payload)
        payloads.add((workflow["name"], json.dumps(payload)))
    assert len(payloads) == len({name for name, _ in payloads})


# ---- only GitHub-hosted projects ---------------------------------------------------------


@pytest.mark.parametrize("slug", ["bb/acme/widgets", "bitbucket/acme/gadgets"])
def test_a_bitbucket_project_is_skipped_with_one_warning(slug: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    world = CircleCIWorld(slug=canonical_slug(slug))
    for number in (1, 2, 3):
        pipeline = world.add_pipeline(number, now - timedelta(hours=10 - number))
        start = now - timedelta(hours=10 - number)
        flow = world.add_workflow(
            pipeline, f"wf-{number}", "ci", "success", start, start + timedelta(minutes=5)
        )
        world.add_job(flow, "build", "success", start, start + timedelta(minutes=4))
    with running_circleci(world):
        target = Project(canonical_slug(slug), "127.0.0.1", "http://127.0.0.1")
        skip = SkipPolicy()
        with CircleCIClient(TOKEN, world.api_url, backoff_base=0.0) as client:
            runs = list(CircleCISource(client, target, now=now)(State(":memory:"), skip))
    assert runs == []
    assert len(skip.skipped) == 1
    assert "3 runs of" in skip.skipped[0] and "not on github.com" in skip.skipped[0]
