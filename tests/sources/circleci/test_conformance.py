"""The mapping against the real CircleCI recordings in shared/fixtures, read in place.

No real v2 job-list body exists (SOURCES.md): job shapes come from the devlake job items
and the quoted approval job, and the insights run items stand in for workflow/job rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Conclusion
from ci_collector.sources.circleci.mapping import (
    Attempt,
    BadItem,
    Project,
    build_run,
    canonical_slug,
    number_attempts,
)
from ci_collector.trunk_contract import body_problems
from tests.conftest import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "circleci"
pytestmark = pytest.mark.usefixtures("shared_recordings")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def project_for(slug: str) -> Project:
    return Project(canonical_slug(slug), "circleci.com", "https://app.circleci.com")


def assert_valid_chain(run: Any) -> list[dict[str, Any]]:
    events = map_run(run)
    repo = {"host": run.repo.host, "owner": run.repo.owner, "name": run.repo.name}
    body = json.dumps({"repo": repo, "events": events}).encode()
    assert body_problems(body) == []
    return events  # type: ignore[return-value]


def devlake() -> Iterator[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]:
    pipelines = {
        row["data"]["id"]: row["data"] for row in load("devlake_project_pipeline_items.json")
    }
    jobs: dict[str, list[dict[str, Any]]] = {}
    for row in load("devlake_workflow_job_items.json"):
        jobs.setdefault(row["request_url"].split("/")[-2], []).append(row["data"])
    for row in load("devlake_pipeline_workflow_items.json"):
        workflow = row["data"]
        yield pipelines.get(workflow["pipeline_id"], {}), workflow, jobs.get(workflow["id"], [])


def test_every_devlake_workflow_maps_or_is_skipped_by_name() -> None:
    mapped, bad = 0, []
    project = project_for("gh/coldgust/coldgust.github.io")
    for pipeline, workflow, jobs in devlake():
        try:
            run = build_run(project, pipeline, workflow, jobs, Attempt(1, None))
        except BadItem as exc:
            bad.append((workflow["id"], str(exc)))
            continue
        events = assert_valid_chain(run)
        assert len(events) == 1 + len(jobs)
        mapped += 1
    assert mapped == 9
    # pipeline 16's workflow has "" for created_at/stopped_at, no jobs, no pipeline item
    assert bad == [
        (
            "b3b77371-e27a-4e93-a554-c728f757cd24",
            "no created_at or stopped_at on the workflow or any of its jobs",
        )
    ]


def test_devlake_failed_workflow_maps_tags_and_jobs() -> None:
    project = project_for("github/coldgust/coldgust.github.io")
    pipeline, workflow, jobs = next(
        item for item in devlake() if item[1]["id"] == "6731159f-5275-4bfa-ba70-39d343d63814"
    )
    run = build_run(project, pipeline, workflow, jobs, Attempt(1, None))
    assert run.repo.slug == "github.com/coldgust/coldgust.github.io"
    assert run.natural_key == (
        "circleci.com/gh/coldgust/coldgust.github.io/workflows/6731159f-5275-4bfa-ba70-39d343d63814"
    )
    assert run.root.conclusion is Conclusion.FAILURE and run.root.result == "failed"
    assert run.root.tags["branch"] == "master"
    assert run.root.tags["trigger"] == "webhook"
    assert run.root.tags["actor"] == "coldgust"
    assert run.root.tags["pipeline_number"] == "5"
    assert run.root.tags["url"] == (
        "https://app.circleci.com/pipelines/github/coldgust/coldgust.github.io/5/workflows/"
        "6731159f-5275-4bfa-ba70-39d343d63814"
    )
    [job] = run.root.children
    assert (job.kind, job.name, job.id_part) == (
        "job",
        "build",
        "jobs/ab8c3282-0e74-4a41-834e-152a71280bed",
    )
    assert job.conclusion is Conclusion.FAILURE
    assert job.finished_ms is not None and job.started_ms is not None
    assert job.finished_ms - job.started_ms == 3000
    assert job.metrics["queue_ms"] == 0  # created_at == started_at in the recording


def test_devlake_workflow_stopped_before_created_is_repaired_and_flagged() -> None:
    project = project_for("gh/coldgust/coldgust.github.io")
    pipeline, workflow, jobs = next(
        item for item in devlake() if item[1]["id"] == "fc76deef-bcdd-4856-8e96-a8e2d1c5a85f"
    )
    root = assert_valid_chain(build_run(project, pipeline, workflow, jobs, Attempt(1, None)))[0]
    assert root["finishedAt"] >= root["createdAt"]
    assert {"k": "timestamps_repaired", "v": "true"} in root["payload"]["tags"]


@pytest.mark.parametrize(
    "name",
    [
        "project_pipelines_page1_jmleroux_doc_placeholders.json",
        "project_pipelines_page2_jmleroux_doc_placeholders.json",
    ],
)
def test_documented_pipeline_pages_give_the_root_its_tags(name: str) -> None:
    [pipeline] = load(name)["items"]
    workflow = {
        "id": "w-1",
        "name": "build",
        "status": "success",
        "created_at": pipeline["created_at"],
        "stopped_at": pipeline["updated_at"],
    }
    run = build_run(project_for(pipeline["project_slug"]), pipeline, workflow, [], Attempt(1, None))
    assert_valid_chain(run)
    assert run.root.tags["branch"] == "feature/design-new-api"
    assert run.root.tags["sha"] == "f454a02b5d10fcccfd7d9dd7608a76d6493a98b4"
    assert run.root.tags["trigger"] == "explicit"
    assert run.root.tags["vcs_tag"] == "v3.1.4159"


def test_workflow_without_pipeline_maps_from_its_own_fields() -> None:
    workflow = load("workflow_get_jmleroux_null_pipeline.json")
    run = build_run(project_for(workflow["project_slug"]), {}, workflow, [], Attempt(1, None))
    events = assert_valid_chain(run)
    assert run.repo.slug == "github.com/foo/bar"
    assert events[0]["finishedAt"] - events[0]["createdAt"] == 61 * 60_000 + 31_000
    assert "pipeline_number" not in {tag["k"] for tag in events[0]["payload"]["tags"]}


def test_insights_rows_map_as_workflows_with_job_rows() -> None:
    """Insights rows are named by the request, so the name comes from the summary fixtures."""
    [summary] = load("insights_workflows_summary_jmleroux_doc.json")["items"]
    job_names = [
        row["name"] for row in load("insights_workflow_jobs_summary_jmleroux_doc.json")["items"]
    ]
    job_rows = load("insights_job_runs_jmleroux.json")["items"]
    workflows = [
        {**row, "name": summary["name"]}
        for row in load("insights_workflow_runs_jmleroux.json")["items"]
    ]
    attempts = number_attempts(workflows)
    assert [attempts[w["id"]].number for w in workflows] == [3, 2, 1]
    for workflow, job in zip(workflows, job_rows, strict=False):
        jobs = [{**job, "name": job_names[0], "type": "build"}]
        run = build_run(
            project_for("gh/jmleroux/circleci-php-client"),
            {},
            workflow,
            jobs,
            attempts[workflow["id"]],
        )
        events = assert_valid_chain(run)
        assert events[1]["conclusion"] == ("SUCCESS" if job["status"] == "success" else "FAILURE")


def test_quoted_approval_job_shape_maps_to_an_approval_with_its_pause() -> None:
    """The approval item quoted in Kesin11/CIAnalyzer#1125 (values of that shape)."""
    approval = {
        "dependencies": [],
        "job_number": 11257,
        "id": "130074c4-6d17-464b-a517-1e6089cbd89d",
        "started_at": "2024-03-11T14:56:43Z",
        "name": "hold",
        "approved_by": "c0b37cd5-9ac5-4bae-b701-c71026c0ed5a",
        "project_slug": "gh/o/r",
        "status": "success",
        "type": "approval",
        "stopped_at": "2024-03-11T14:57:08Z",
        "approval_request_id": "130074c4-6d17-464b-a517-1e6089cbd89d",
    }
    workflow = {
        "id": "e3beb02d",
        "name": "ci",
        "status": "success",
        "created_at": "2024-03-11T14:56:40Z",
        "stopped_at": "2024-03-11T14:58:00Z",
    }
    run = build_run(project_for("gh/o/r"), {}, workflow, [approval], Attempt(1, None))
    events = assert_valid_chain(run)
    assert events[1]["sequence"]["kind"] == "approval"
    assert events[1]["sequence"]["key"] == "ci/hold"
    assert {"k": "pause_ms", "v": 25_000} in events[1]["payload"]["metrics"]
