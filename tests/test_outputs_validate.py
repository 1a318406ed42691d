"""Done when: ``validate`` accepts every ``--output`` the collectors produce, 0 errors.

Every recording in ../shared/fixtures (read in place) and every project cassette goes
through the collectors' mapping and the dry-run sink (what ``--output`` writes); the
file must pass the same checks Trunk makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import vcr

from ci_collector.model import Repo, Run
from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.sinks import JsonlSink
from ci_collector.sources.circleci.client import CircleCIClient
from ci_collector.sources.circleci.mapping import Attempt, BadItem
from ci_collector.sources.circleci.mapping import build_run as circleci_run
from ci_collector.sources.circleci.source import CircleCISource
from ci_collector.sources.github.client import GitHubClient
from ci_collector.sources.github.mapping import build_run as github_run
from ci_collector.sources.github.mapping import is_finished
from ci_collector.sources.github.source import GitHubCollector, GitHubQuery
from ci_collector.sources.jenkins.mapping import BuildContext, map_build
from ci_collector.state import State
from ci_collector.validate import validate_lines
from tests.conftest import (
    CASSETTES,
    SHARED_FIXTURES,
    recorded_names,
    require_shared_recordings,
)
from tests.servers.github_bodies import API
from tests.sources.circleci import test_cassettes as circleci_tapes
from tests.sources.circleci.test_conformance import devlake, project_for
from tests.sources.github import scenarios as github_scenarios
from tests.sources.github.test_fixtures_conformance import _kind, _load, recorded_job_runs
from tests.sources.jenkins.test_cassettes import replay as jenkins_replay
from tests.sources.jenkins.test_conformance import BUILD_FILES, DESCRIBE_FILES, RUNS_FILES

FIXTURE_REPO = Repo("github.com", "fixture-owner", "fixture-repo")


def require_fixtures() -> None:
    require_shared_recordings()


def written_and_validated(runs: Iterable[Run], tmp_path: Path) -> tuple[int, list[str]]:
    """What ``--output`` writes for these runs, and what ``validate`` says about it."""
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out, batch_events=40)
    summary = deliver(runs, sink)
    sink.close()
    report = validate_lines(out.read_bytes().splitlines())
    assert report.events == summary.events
    return report.events, report.errors


# ---- the shared recordings -----------------------------------------------------------------


def github_recorded_runs() -> Iterable[Run]:
    for path in sorted((SHARED_FIXTURES / "github").glob("*.json")):
        yield from github_runs_of(path)


def github_runs_of(path: Path) -> Iterable[Run]:
    """What a collector reads from one recording (one body, or a run and its jobs)."""
    if path.stem.endswith("_jobs") and path.with_name(path.stem[:-5] + ".json").exists():
        return  # read with its run
    body = _load(path)
    kind = _kind(body)
    if kind == "run":
        jobs_file = path.with_name(path.stem + "_jobs.json")
        jobs = _load(jobs_file)["jobs"] if jobs_file.exists() else []
        if is_finished(body):
            yield github_run(FIXTURE_REPO, body, jobs, source="github:fixtures")
    elif kind in ("run_list", "run_items"):
        runs = body["workflow_runs"] if kind == "run_list" else [i["data"] for i in body]
        for run in runs:
            if is_finished(run):
                yield github_run(FIXTURE_REPO, run, [], source="github:fixtures")
    elif kind in ("job_list", "job", "job_items"):
        for stand_in, run_jobs in recorded_job_runs(kind, body):
            yield github_run(FIXTURE_REPO, stand_in, run_jobs, source="github:fixtures")


def jenkins_recorded_runs() -> Iterable[Run]:
    folder = SHARED_FIXTURES / "jenkins"
    for name in BUILD_FILES:
        body = json.loads((folder / name).read_text(encoding="utf-8"))
        for build in [e["data"] for e in body] if isinstance(body, list) else [body]:
            path = str(build.get("fullDisplayName", "job")).rsplit(" #", 1)[0]
            job = path.replace(" » ", "/") + "-" + name.removesuffix(".json")  # one per file
            context = BuildContext("ci.example", job, FIXTURE_REPO, f"jenkins:{job}")
            yield map_build(build, context)
    for number, name in enumerate(DESCRIBE_FILES + RUNS_FILES):
        body = json.loads((folder / name).read_text(encoding="utf-8"))
        for index, describe in enumerate(body if isinstance(body, list) else [body]):
            build = {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                "number": index + 1,
                "result": "SUCCESS",
                "timestamp": describe.get("startTimeMillis") or 1_413_461_275_770,
                "duration": describe.get("durationMillis") or 1_000,
                "url": f"http://ci.example/job/stage-view-{number}/{index + 1}/",
            }
            context = BuildContext("ci.example", f"stage-view-{number}", FIXTURE_REPO, "j")
            yield map_build(build, context, describe)


def circleci_recorded_runs() -> Iterable[Run]:
    project = project_for("gh/coldgust/coldgust.github.io")
    for pipeline, workflow, jobs in devlake():
        try:
            yield circleci_run(project, pipeline, workflow, jobs, Attempt(1, None))
        except BadItem:
            continue  # skipped by name by the collector (test_conformance pins which)


@pytest.mark.parametrize("name", recorded_names("github", "*.json"))
def test_every_github_recording_validates_with_no_error(name: str, tmp_path: Path) -> None:
    require_fixtures()
    _, errors = written_and_validated(github_runs_of(SHARED_FIXTURES / "github" / name), tmp_path)
    assert errors == []


def test_the_github_recordings_hold_enough_runs(tmp_path: Path) -> None:
    require_fixtures()
    assert sum(1 for _ in github_recorded_runs()) >= 100


@pytest.mark.parametrize(
    ("platform", "runs", "least"),
    [
        ("jenkins", jenkins_recorded_runs, 50),
        ("circleci", circleci_recorded_runs, 18),
    ],
)
def test_every_recording_validates_with_no_error(
    platform: str, runs: Any, least: int, tmp_path: Path
) -> None:
    require_fixtures()
    events, errors = written_and_validated(runs(), tmp_path)
    assert errors == []
    assert events >= least, platform


# ---- the project's cassettes ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["freestyle", "pipeline", "discovery"])
def test_jenkins_cassettes_validate_with_no_error(name: str, tmp_path: Path) -> None:
    runs, _, _, _ = jenkins_replay(name)
    events, errors = written_and_validated(runs.values(), tmp_path)
    assert errors == [] and events >= len(runs) > 0


@pytest.mark.parametrize(
    ("name", "run_id"), [("poll", None), ("rerun_run_id", github_scenarios.RERUN_RUN)]
)
def test_github_cassettes_validate_with_no_error(
    name: str, run_id: int | None, tmp_path: Path
) -> None:
    player = vcr.VCR(record_mode="none", ignore_localhost=True, filter_headers=["authorization"])
    query = GitHubQuery(repos=(f"{github_scenarios.OWNER}/{github_scenarios.NAME}",), run_id=run_id)
    with player.use_cassette(str(CASSETTES / "github" / f"{name}.yaml")):
        client = GitHubClient(API, "ghp_playback-token-0000000000")
        now = datetime(2025, 1, 2, tzinfo=timezone.utc)
        runs = list(GitHubCollector(client, query, now=now)(State(":memory:"), SkipPolicy()))
    events, errors = written_and_validated(runs, tmp_path)
    assert errors == [] and events > len(runs) > 0


def test_circleci_cassette_validates_with_no_error(tmp_path: Path) -> None:
    with (
        circleci_tapes.PLAYER.use_cassette("poll.yaml"),
        CircleCIClient("cassette-token-not-recorded", backoff_base=0.0) as client,
    ):
        source = CircleCISource(
            client, circleci_tapes.PROJECT, since=circleci_tapes.SINCE, now=circleci_tapes.NOW
        )
        runs = list(source(State(":memory:"), SkipPolicy()))
    events, errors = written_and_validated(runs, tmp_path)
    assert errors == [] and events > len(runs) > 0
