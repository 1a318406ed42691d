"""What lands in Trunk from GitHub Actions is right, on real recorded runs read in place.

Identity (however the repository was typed), pull requests of the run's own repository
only, a conclusion on every event, one id per job, plausible times, filter tags on every
level, and a sequence payload that describes the workflow, not the run.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ci_collector.eventstore import branch_kind
from ci_collector.mapper import REPAIRED_TAG, map_run
from ci_collector.model import Repo
from ci_collector.sources.github.mapping import build_run, slim_run
from ci_collector.trunk import CONCLUSIONS
from tests.conftest import SHARED_FIXTURES, require_shared_recordings

FIXTURES = SHARED_FIXTURES / "github"
RUNS = ["21458831126", "21487811823", "21832799585", "21983564823"]


def load(name: str) -> Any:
    require_shared_recordings()
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def biome(run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = load(f"otelcicd_biomejs_biome_run{run_id}.json")
    return run, load(f"otelcicd_biomejs_biome_run{run_id}_jobs.json")["jobs"]


def step_security() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = "otelcicd_step_security_skip_duplicate_actions_run16620109074"
    return load(f"{name}.json"), load(f"{name}_jobs.json")["jobs"]


def events(run: dict[str, Any], jobs: list[dict[str, Any]], repo: Repo | None = None) -> list[Any]:
    owner, name = str(run["repository"]["full_name"]).split("/")
    mapped = build_run(repo or Repo("github.com", owner, name), run, jobs, source="github:x")
    return json.loads(json.dumps(map_run(mapped)))


def tags(event: Any) -> dict[str, Any]:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


# ---- one repository, one identity ----------------------------------------------------------


@pytest.mark.parametrize("run_id", RUNS)
@pytest.mark.parametrize(
    "spelling", [("BiomeJS", "Biome"), ("biomejs", "BIOME"), ("BIOMEJS", "biome")]
)
def test_any_spelling_of_the_repository_gives_byte_identical_events(
    run_id: str, spelling: tuple[str, str]
) -> None:
    run, jobs = biome(run_id)
    typed = build_run(Repo("github.com", *spelling), run, jobs, source="s")
    canonical = build_run(Repo("github.com", "biomejs", "biome"), run, jobs, source="s")
    assert json.dumps(map_run(typed)) == json.dumps(map_run(canonical))
    assert typed.repo == canonical.repo == Repo("github.com", "biomejs", "biome")
    assert typed.natural_key == canonical.natural_key


@pytest.mark.parametrize("spelling", [("Acme", "Widgets"), ("ACME", "widgets")])
def test_without_the_api_repository_field_the_name_is_lower_cased(
    spelling: tuple[str, str],
) -> None:
    run, jobs = biome(RUNS[1])
    del run["repository"]
    typed = build_run(Repo("github.com", *spelling), run, jobs, source="s")
    plain = build_run(Repo("github.com", "acme", "widgets"), run, jobs, source="s")
    assert json.dumps(map_run(typed)) == json.dumps(map_run(plain))
    assert typed.repo == Repo("github.com", "acme", "widgets")


@pytest.mark.parametrize(
    ("web", "host"),
    [
        ("https://github.com/biomejs/biome", "github.com"),
        ("https://ghe.acme.internal/biomejs/biome", "ghe.acme.internal"),
        ("https://GitHub.COM/biomejs/biome", "github.com"),
    ],
)
def test_the_host_is_the_repository_web_host_never_the_api_base(web: str, host: str) -> None:
    run, jobs = biome(RUNS[0])
    run["repository"]["html_url"] = web
    for api_host in ("api.github.com", "ghe.acme.internal", "127.0.0.1"):
        mapped = build_run(Repo(api_host, "biomejs", "biome"), run, jobs, source="s")
        assert mapped.repo.host == host


def test_the_listing_keeps_what_identity_and_pull_requests_need() -> None:
    run, jobs = biome("21983564823")
    slim = slim_run(run)
    assert json.dumps(
        map_run(build_run(Repo("github.com", "BiomeJS", "biome"), slim, jobs, source="s"))
    ) == json.dumps(
        map_run(build_run(Repo("github.com", "biomejs", "biome"), run, jobs, source="s"))
    )


# ---- a push is not a pull request ------------------------------------------------------


def test_a_run_listing_only_forks_pull_requests_has_no_pr_number() -> None:
    run, jobs = biome("21983564823")  # main, 'issues' event; PRs #1 and #15 of forks
    root = events(run, jobs)[0]
    assert "pr_number" not in tags(root)
    assert tags(root)["branch"] == "main"


@pytest.mark.parametrize(("run_id", "number"), [("21487811823", "8901"), ("21832799585", "9011")])
def test_the_runs_own_pull_request_is_kept(run_id: str, number: str) -> None:
    run, jobs = biome(run_id)
    assert tags(events(run, jobs)[0])["pr_number"] == number


def test_the_own_pull_request_is_found_behind_a_forks_one() -> None:
    run, jobs = biome("21983564823")
    own, _ = biome("21487811823")
    run["pull_requests"] = [*run["pull_requests"], own["pull_requests"][0]]
    assert tags(events(run, jobs)[0])["pr_number"] == "8901"


def test_base_matched_by_api_url_when_ids_are_missing() -> None:
    run, jobs = step_security()
    for pull in run["pull_requests"]:
        del pull["base"]["repo"]["id"]
    assert tags(events(run, jobs)[0])["pr_number"] == "305"
    for pull in run["pull_requests"]:
        pull["base"]["repo"]["url"] = "https://api.github.com/repos/someone/skip-duplicate-actions"
    assert "pr_number" not in tags(events(run, jobs)[0])


# ---- every event concluded, raw word kept ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "started", "expected"),
    [
        ("in_progress", True, "CANCELLED"),
        ("queued", False, "SKIPPED"),
        ("pending", False, "SKIPPED"),
        ("completed", True, "CANCELLED"),
    ],
)
def test_a_step_without_a_conclusion_in_a_finished_job_is_concluded(
    status: str, started: bool, expected: str
) -> None:
    run, jobs = biome(RUNS[0])
    step = jobs[0]["steps"][-1]
    step.update(status=status, conclusion=None)
    if not started:
        step.update(started_at=None, completed_at=None)
    mapped = events(run, jobs)
    assert all(event.get("conclusion") in CONCLUSIONS for event in mapped)
    last = mapped[-1]
    assert last["conclusion"] == expected
    assert tags(last)["result"] == status


@pytest.mark.parametrize(
    "word",
    [
        "success",
        "failure",
        "neutral",
        "cancelled",
        "skipped",
        "timed_out",
        "action_required",
        "stale",
        "startup_failure",
        None,
    ],
)
def test_every_github_conclusion_word_concludes_every_level(word: str | None) -> None:
    run, jobs = step_security()
    run["conclusion"] = word
    for job in jobs:
        job["conclusion"] = word
        for step in job.get("steps") or []:
            step["conclusion"] = word
    mapped = events(run, jobs)
    assert all(event.get("conclusion") in CONCLUSIONS for event in mapped)
    if word is not None:
        assert {tags(event)["result"] for event in mapped} == {word}


# ---- one id, one content -------------------------------------------------------------------


@pytest.mark.parametrize("run_id", RUNS)
def test_a_job_listed_twice_is_one_event(run_id: str) -> None:
    run, jobs = biome(run_id)
    once = events(run, jobs)
    twice = events(run, [*jobs, *copy.deepcopy(jobs)])
    assert json.dumps(twice) == json.dumps(once)


def test_the_finished_copy_of_a_job_listed_twice_wins() -> None:
    run, jobs = biome(RUNS[1])
    running = copy.deepcopy(jobs[0])
    running.update(status="in_progress", conclusion=None, completed_at=None)
    assert json.dumps(events(run, [*jobs, running])) == json.dumps(events(run, jobs))


@pytest.mark.parametrize("duplicate", [(1, 2), (2, 3), (1, 3)])
def test_steps_sharing_a_number_get_distinct_ids(duplicate: tuple[int, int]) -> None:
    run, jobs = biome(RUNS[0])
    original = events(run, jobs)
    steps = jobs[0]["steps"]
    steps[duplicate[1] - 1]["number"] = duplicate[0]
    mapped = events(run, jobs)
    ids = [event["id"] for event in mapped]
    assert len(ids) == len(set(ids)) == len(original)
    assert ids[0] == original[0]["id"]  # the run keeps its id


# ---- plausible times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "completed", ["9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "2031-06-01T00:00:00Z"]
)
def test_a_job_completed_far_in_the_future_is_repaired_and_tagged(completed: str) -> None:
    run, jobs = biome(RUNS[1])
    sane = events(run, jobs)
    jobs[0]["completed_at"] = completed
    mapped = events(run, jobs)
    assert mapped[0]["finishedAt"] - mapped[0]["createdAt"] < 24 * 3600 * 1000
    job = mapped[1]
    assert job["finishedAt"] <= mapped[0]["finishedAt"]
    assert tags(job)[REPAIRED_TAG] == "true"
    assert mapped[0]["finishedAt"] == sane[0]["finishedAt"] or tags(mapped[0])[REPAIRED_TAG]


@pytest.mark.parametrize(
    "started", ["1999-01-01T00:00:00Z", "1970-01-01T00:00:01Z", "2004-12-31T23:59:59Z"]
)
def test_a_run_started_long_before_its_jobs_is_repaired_and_tagged(started: str) -> None:
    run, jobs = biome(RUNS[2])
    run["run_started_at"] = started
    run["created_at"] = started
    root = events(run, jobs)[0]
    first_job = min(e["createdAt"] for e in events(run, jobs)[1:] if e["sequence"]["kind"] == "job")
    assert root["createdAt"] == first_job
    assert tags(root)[REPAIRED_TAG] == "true"


# ---- filters on every level, a sequence payload of the workflow ------------------------------


@pytest.mark.parametrize("run_id", RUNS)
def test_branch_sha_trigger_and_pr_are_on_every_event(run_id: str) -> None:
    run, jobs = biome(run_id)
    mapped = events(run, jobs)
    root = tags(mapped[0])
    assert len(mapped) > 2
    for event in mapped[1:]:
        for key in ("branch", "sha", "trigger", "pr_number"):
            assert tags(event).get(key) == root.get(key), (key, event["sequence"]["kind"])


def test_the_sequence_payload_describes_the_workflow_the_same_for_every_run() -> None:
    payloads = set()
    for run_id in RUNS[:3]:  # three runs of pull_request_title_lint.yaml
        run, jobs = biome(run_id)
        payload = events(run, jobs)[0]["sequence"]["payload"]
        assert run_id not in json.dumps(payload)
        payloads.add(json.dumps(payload))
    assert payloads == {
        json.dumps(
            {
                "tags": [
                    {"k": "workflow", "v": ".github/workflows/pull_request_title_lint.yaml"},
                    {
                        "k": "workflow_url",
                        "v": "https://github.com/biomejs/biome/actions/workflows/"
                        "pull_request_title_lint.yaml",
                    },
                ]
            }
        )
    }


@pytest.mark.parametrize(
    ("run_id", "kind"), [("21983564823", None), ("21487811823", "pull_request")]
)
def test_the_reports_branch_class_follows_the_pull_request(run_id: str, kind: str | None) -> None:
    run, jobs = biome(run_id)
    run["event"] = "push"  # so that only the pull request can make it a PR run
    for event in events(run, jobs):
        assert branch_kind({k: str(v) for k, v in tags(event).items()}) == kind
