"""Property tests: real recorded bodies, spoiled at random, never crash a mapping.

Each platform's recordings in ``shared/fixtures`` are read in place; hypothesis nulls,
drops or retypes a few fields anywhere in them (nested too). The functions the
collectors call on a body either return, or raise that platform's "cannot map this
run" error (which the collector turns into a skip naming the run). Anything else (a
TypeError, a KeyError...) would end a whole poll, and fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_collector.mapper import MappingError, map_run
from ci_collector.model import Repo, Run
from ci_collector.sources.circleci import mapping as circleci_mapping
from ci_collector.sources.circleci.mapping import Attempt, BadItem, Project
from ci_collector.sources.github import mapping as github_mapping
from ci_collector.sources.github.mapping import MalformedRun
from ci_collector.sources.jenkins import mapping as jenkins_mapping
from ci_collector.sources.jenkins.mapping import BuildContext, MalformedBuild
from tests.conftest import SHARED_FIXTURES
from tests.hardening.mutations import spoiled

pytestmark = pytest.mark.usefixtures("shared_recordings")
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def load(platform: str, name: str) -> Any:
    return json.loads((SHARED_FIXTURES / platform / name).read_text(encoding="utf-8"))


def survives(what: list[str], allowed: type[Exception], build: Callable[[], Run | None]) -> None:
    """Map (and emit events) or refuse with `allowed`; anything else is a crash."""
    try:
        run = build()
        if run is not None:
            map_run(run)
    except (allowed, MappingError):
        pass
    except Exception as exc:  # the property: nothing else escapes
        raise AssertionError(f"{type(exc).__name__}: {exc} after {what}") from exc


# ---- GitHub --------------------------------------------------------------------------

GITHUB_REPO = Repo("github.com", "fixture-owner", "fixture-repo")


@cache
def github_pairs() -> list[dict[str, Any]]:
    return [
        {
            "run": load("github", f"otelcicd_{name}.json"),
            "jobs": load("github", f"otelcicd_{name}_jobs.json")["jobs"],
        }
        for name in (
            "biomejs_biome_run21458831126",
            "biomejs_biome_run21832799585",
            "step_security_skip_duplicate_actions_run16620109074",
        )
    ]


def _github(body: Any) -> Run | None:
    run, jobs = body.get("run"), body.get("jobs")
    if not isinstance(run, dict) or not isinstance(jobs, list):
        return None  # the collector only hands objects and lists on (checked before)
    github_mapping.is_finished(run)
    github_mapping.fingerprint_of(run)
    github_mapping.slim_run(run)
    key = github_mapping.natural_key(
        GITHUB_REPO, github_mapping.run_id_of(run), github_mapping.attempt_of(run)
    )
    assert key
    return github_mapping.build_run(GITHUB_REPO, run, jobs, source="github:test")


@EXAMPLES
@given(st.deferred(lambda: st.sampled_from(github_pairs()).flatmap(spoiled)))
def test_github_run_and_jobs_never_crash_the_mapping(case: tuple[Any, list[str]]) -> None:
    body, what = case
    survives(what, MalformedRun, lambda: _github(body))


# ---- Jenkins -------------------------------------------------------------------------

JENKINS_CONTEXT = BuildContext(
    "ci.example", "folder/job", Repo("github.com", "o", "r"), "jenkins:x"
)


@cache
def jenkins_builds() -> list[dict[str, Any]]:
    builds = [
        {"build": load("jenkins", name), "describe": None, "blue": None}
        for name in (
            "build_api_json_api4jenkins_freestyle.json",
            "build_api_json_freestyle_upstream_cause_tarungoel.json",
            "build_api_json_jenkinsrest_params_user_cause.json",
            "build_api_json_git_builddata_lastBuiltRevision_jenkinsapi.json",
        )
    ]
    pipeline_build = load("jenkins", "build_api_json_api4jenkins_workflowrun_replay_cause.json")
    builds += [
        {"build": pipeline_build, "describe": load("jenkins", name), "blue": None}
        for name in (
            "wfapi_describe_jenkinsrest_paused_pending_input.json",
            "wfapi_run_describe_doc_paused_pending_input.json",
        )
    ]
    builds.append(
        {
            "build": pipeline_build,
            "describe": load("jenkins", "wfapi_run_describe_doc_paused_pending_input.json"),
            "blue": load("jenkins", "blueocean_run_nodes_parallel_JENKINS-46436.json"),
        }
    )
    return builds


def _jenkins(body: Any) -> Run | None:
    build = body.get("build")
    jenkins_mapping.build_number(build)  # the collector's first look at a list entry
    assert isinstance(build, dict)
    jenkins_mapping.is_finished(build)
    jenkins_mapping.is_pipeline(build)
    jenkins_mapping.is_branch_build(build)
    jenkins_mapping.checkouts(build)
    jenkins_mapping.app_checkout(build)
    jenkins_mapping.ran_in_parallel(body.get("describe"))
    return jenkins_mapping.map_build(build, JENKINS_CONTEXT, body.get("describe"), body.get("blue"))


@EXAMPLES
@given(st.deferred(lambda: st.sampled_from(jenkins_builds()).flatmap(spoiled)))
def test_jenkins_build_describe_and_graph_never_crash_the_mapping(
    case: tuple[Any, list[str]],
) -> None:
    body, what = case
    survives(what, MalformedBuild, lambda: _jenkins(body))


# ---- CircleCI ------------------------------------------------------------------------

CIRCLECI_PROJECT = Project(
    "gh/coldgust/coldgust.github.io", "circleci.com", "https://app.circleci.com"
)


@cache
def circleci_cases() -> list[dict[str, Any]]:
    pipelines = {
        row["data"]["id"]: row["data"]
        for row in load("circleci", "devlake_project_pipeline_items.json")
    }
    jobs: dict[str, list[Any]] = {}
    for row in load("circleci", "devlake_workflow_job_items.json"):
        jobs.setdefault(row["request_url"].split("/")[-2], []).append(row["data"])
    cases = []
    for row in load("circleci", "devlake_pipeline_workflow_items.json"):
        workflow = row["data"]
        if workflow["id"] in jobs and workflow["pipeline_id"] in pipelines:
            cases.append(
                {
                    "pipeline": pipelines[workflow["pipeline_id"]],
                    "workflows": [workflow],
                    "jobs": jobs[workflow["id"]],
                }
            )
    return cases[:4]


def _circleci(body: Any) -> Run | None:
    pipeline, workflows, jobs = body.get("pipeline"), body.get("workflows"), body.get("jobs")
    if not isinstance(workflows, list) or not workflows or not isinstance(jobs, list):
        return None  # the client hands on only lists of objects (`Malformed` otherwise)
    if not all(isinstance(item, dict) for item in [*workflows, *jobs]):
        return None
    attempts = circleci_mapping.number_attempts(workflows)
    workflow = workflows[0]
    circleci_mapping.is_finished(workflow)
    circleci_mapping.fingerprint(workflow)
    attempt = attempts.get(workflow.get("id")) if isinstance(workflow.get("id"), str) else None
    return circleci_mapping.build_run(
        CIRCLECI_PROJECT,
        pipeline if isinstance(pipeline, dict) else {},
        workflow,
        jobs,
        attempt or Attempt(1, None),
    )


@EXAMPLES
@given(st.deferred(lambda: st.sampled_from(circleci_cases()).flatmap(spoiled)))
def test_circleci_pipeline_workflow_and_jobs_never_crash_the_mapping(
    case: tuple[Any, list[str]],
) -> None:
    body, what = case
    survives(what, BadItem, lambda: _circleci(body))


def test_the_recordings_map_unspoiled() -> None:
    """The properties start from bodies that map: a spoilt field is what breaks them."""
    for body in github_pairs():
        assert _github(body) is not None
    for body in jenkins_builds():
        run = _jenkins(body)
        assert run is not None and map_run(run)
    assert len(circleci_cases()) >= 2
    for body in circleci_cases():
        run = _circleci(body)
        assert run is not None and map_run(run)
