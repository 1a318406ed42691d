"""Mapping rules that the recordings do not exercise: slugs, repos, words, attempts."""

from __future__ import annotations

from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Conclusion, Repo
from ci_collector.sources.circleci.mapping import (
    CONCLUSIONS,
    FINISHED_WORKFLOW,
    Attempt,
    BadItem,
    Project,
    app_url_for,
    build_run,
    canonical_slug,
    number_attempts,
    repo_for,
    repo_from_url,
)

WORKFLOW = {
    "id": "w1",
    "name": "ci",
    "status": "failed",
    "created_at": "2024-05-01T10:00:00Z",
    "stopped_at": "2024-05-01T10:05:00Z",
}


def project(slug: str = "gh/acme/widgets") -> Project:
    return Project(slug, "circleci.com", "https://app.circleci.com")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("gh/acme/widgets", "gh/acme/widgets"),
        ("github/acme/widgets", "gh/acme/widgets"),
        ("bitbucket/acme/widgets/", "bb/acme/widgets"),
        ("circleci/9a3f-org/7c1e-proj", "circleci/9a3f-org/7c1e-proj"),
    ],
)
def test_slugs_have_one_spelling(given: str, canonical: str) -> None:
    assert canonical_slug(given) == canonical


@pytest.mark.parametrize(
    "bad", ["acme/widgets", "gl/acme/widgets", "gh/acme", "gh/a b/c", "gh/acme/widgets/extra"]
)
def test_bad_slugs_are_refused_naming_the_option(bad: str) -> None:
    with pytest.raises(ValueError, match="--project-slug"):
        canonical_slug(bad)


def test_repo_comes_from_the_slug_or_the_pipeline_vcs_url() -> None:
    assert repo_for(project("bb/acme/widgets"), {}) == Repo("bitbucket.org", "acme", "widgets")
    standalone = project("circleci/9a3f/7c1e")
    pipeline = {"vcs": {"origin_repository_url": "https://gitlab.com/acme/tools/widgets.git"}}
    assert repo_for(standalone, pipeline) == Repo("gitlab.com", "acme/tools", "widgets")
    assert repo_for(standalone, {}) is None
    assert repo_from_url("git@github.com:acme/widgets.git") == Repo("github.com", "acme", "widgets")
    assert repo_from_url("https://example.com/") is None


def test_standalone_project_without_vcs_url_is_a_bad_item() -> None:
    with pytest.raises(BadItem, match=r"vcs\.origin_repository_url"):
        build_run(project("circleci/9a3f/7c1e"), {}, WORKFLOW, [], Attempt(1, None))


def test_conclusion_words() -> None:
    expected = {
        "success": "SUCCESS",
        "failed": "FAILURE",
        "error": "FAILURE",
        "infrastructure_fail": "FAILURE",
        "canceled": "CANCELLED",
        "timedout": "TIMED_OUT",
        "not_run": "SKIPPED",
        "blocked": "SKIPPED",
        "unauthorized": "SKIPPED",
        "terminated-unknown": "FAILURE",
        "retried": "FAILURE",
        "on_hold": "SKIPPED",
    }
    assert {word: c.value for word, c in CONCLUSIONS.items()} == expected
    assert {"running", "on_hold", "failing"}.isdisjoint(FINISHED_WORKFLOW)


def test_reruns_are_attempts_in_created_order_across_finished_and_running() -> None:
    workflows = [
        {"id": "c", "name": "ci", "created_at": "2024-05-01T12:00:00Z"},
        {"id": "a", "name": "ci", "created_at": "2024-05-01T10:00:00Z"},
        {"id": "d", "name": "lint", "created_at": "2024-05-01T10:00:00Z"},
        {"id": "b", "name": "ci", "created_at": "2024-05-01T11:00:00Z"},
        {"id": None, "name": "broken"},
    ]
    attempts = number_attempts(workflows)
    assert attempts == {
        "a": Attempt(1, None),
        "b": Attempt(2, "a"),
        "c": Attempt(3, "b"),
        "d": Attempt(1, None),
    }


def job(name: str, started: str | None, stopped: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "type": "build",
        "status": "success",
        "started_at": started,
        "stopped_at": stopped,
        **extra,
    }


def test_jobs_are_ordered_tagged_and_timed() -> None:
    jobs = [
        job(
            "test",
            "2024-05-01T10:02:00Z",
            "2024-05-01T10:04:00Z",
            job_number=8,
            created_at="2024-05-01T10:01:30Z",
            status="failed",
        ),
        job("deploy", None, None, status="not_run"),
        job("build", "2024-05-01T10:00:10Z", "2024-05-01T10:01:00Z", job_number=7),
        {
            "id": "id-hold",
            "name": "hold",
            "type": "approval",
            "status": "success",
            "started_at": "2024-05-01T10:04:00Z",
            "stopped_at": "2024-05-01T10:04:45Z",
            "job_number": 9,
        },
    ]
    run = build_run(project(), {"number": 42}, WORKFLOW, jobs, Attempt(2, "w0"))
    assert [c.name for c in run.root.children] == ["build", "test", "hold", "deploy"]
    build, test, hold, deploy = run.root.children
    assert build.tags["job_number"] == "7"
    assert test.metrics == {"queue_ms": 30_000}
    assert test.tags["url"] == (
        "https://app.circleci.com/pipelines/github/acme/widgets/42/workflows/w1/jobs/8"
    )
    assert (hold.kind, hold.metrics, "url" in hold.tags) == (
        "approval",
        {"pause_ms": 45_000},
        False,
    )
    assert deploy.conclusion is Conclusion.SKIPPED
    assert run.root.tags["attempt"] == "2" and run.root.tags["rerun_of"] == "w0"
    events = map_run(run)
    assert [e["sequence"]["key"] for e in events] == [
        "ci",
        "ci/build",
        "ci/test",
        "ci/hold",
        "ci/deploy",
    ]
    assert events[0]["conclusion"] == "FAILURE"
    assert {"k": "result", "v": "not_run"} in events[4]["payload"]["tags"]
    assert {"k": "timestamps_repaired", "v": "true"} in events[4]["payload"]["tags"]


@pytest.mark.parametrize(
    "broken",
    [
        {**WORKFLOW, "id": None},
        {**WORKFLOW, "name": ""},
        {**WORKFLOW, "status": 3},
    ],
)
def test_malformed_workflows_are_bad_items(broken: dict[str, Any]) -> None:
    with pytest.raises(BadItem):
        build_run(project(), {}, broken, [], Attempt(1, None))


@pytest.mark.parametrize("broken_job", [["not an object"], [{"name": "x"}], [{"id": "j"}]])
def test_malformed_jobs_are_bad_items(broken_job: list[Any]) -> None:
    with pytest.raises(BadItem):
        build_run(project(), {}, WORKFLOW, broken_job, Attempt(1, None))


def test_app_url_for_cloud_and_server() -> None:
    assert app_url_for("https://circleci.com/api/v2") == "https://app.circleci.com"
    assert app_url_for("https://ci.corp.example:8443/api/v2") == "https://ci.corp.example:8443"
