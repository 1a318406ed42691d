"""Any amount of CI history, built from real response templates.

The templates are real recordings read in place from ``../shared/fixtures/`` (a GitHub
workflow run of biomejs/biome with its jobs page; a Jenkins WorkflowRun, git BuildData,
Stage View stages and a Blue Ocean node graph). Where that folder is absent, the
project's own cassettes in ``cassettes/`` provide the same shapes. Only identities and
times are rewritten, so bodies keep their real size and every field the collectors
skip: parsing cost is what GitHub and Jenkins would really make us pay.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_collector.times import ms_to_iso
from tests.servers.github import GitHubModel
from tests.servers.jenkins import Build, JenkinsStandIn

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
CASSETTES = ROOT / "cassettes"

GITHUB_RUN = "github/otelcicd_biomejs_biome_run21458831126.json"
GITHUB_JOBS = "github/otelcicd_biomejs_biome_run21458831126_jobs.json"
JENKINS_BUILD = "jenkins/build_api_json_api4jenkins_workflowrun_replay_cause.json"
JENKINS_GIT = "jenkins/build_api_json_git_builddata_lastBuiltRevision_jenkinsapi.json"
JENKINS_STAGES = "jenkins/devlake_wfapi_describe_stage_items.json"
JENKINS_BLUE = "jenkins/blueocean_run_nodes_finished_multiple_failure.json"

SECOND = 1000
MINUTE = 60 * SECOND


# ---- templates ---------------------------------------------------------------------


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _cassette_bodies(name: str) -> list[tuple[str, Any]]:
    """(uri, parsed JSON body) of every interaction of one cassette."""
    import yaml  # vcrpy's dependency; only needed without the fixtures

    data = yaml.safe_load((CASSETTES / name).read_text(encoding="utf-8"))
    found: list[tuple[str, Any]] = []
    for item in data["interactions"]:
        text = item["response"]["body"]["string"]
        try:
            found.append((item["request"]["uri"], json.loads(text)))
        except (TypeError, ValueError):
            continue
    return found


@dataclass(frozen=True)
class GitHubTemplates:
    run: dict[str, Any]
    job: dict[str, Any]
    step: dict[str, Any]
    origin: str


@dataclass(frozen=True)
class JenkinsTemplates:
    build: dict[str, Any]
    stage: dict[str, Any]
    blue_node: dict[str, Any]
    origin: str


def github_templates() -> GitHubTemplates:
    if (FIXTURES / GITHUB_RUN).exists():
        job = _fixture(GITHUB_JOBS)["jobs"][0]
        return GitHubTemplates(_fixture(GITHUB_RUN), job, job["steps"][0], f"fixtures/{GITHUB_RUN}")
    bodies = _cassette_bodies("github/poll.yaml")
    run = next(b["workflow_runs"][0] for uri, b in bodies if uri.split("?")[0].endswith("/runs"))
    job = next(b["jobs"][0] for uri, b in bodies if "/jobs" in uri and b.get("jobs"))
    return GitHubTemplates(run, job, job["steps"][0], "cassettes/github/poll.yaml")


def jenkins_templates() -> JenkinsTemplates:
    if (FIXTURES / JENKINS_BUILD).exists():
        build = _fixture(JENKINS_BUILD)
        git = next(a for a in _fixture(JENKINS_GIT)["actions"] if "lastBuiltRevision" in a)
        git = {k: v for k, v in git.items() if k != "buildsByBranchName"}
        build["actions"] = [
            *build["actions"],
            {"_class": "hudson.plugins.git.util.BuildData", **git},
        ]
        stage = _fixture(JENKINS_STAGES)[0]["data"]
        blue = _fixture(JENKINS_BLUE)[0]
        origin = f"fixtures/{JENKINS_BUILD} (+ git, stages, blue)"
        return JenkinsTemplates(build, stage, blue, origin)
    bodies = _cassette_bodies("jenkins/pipeline.yaml")
    listing = next(b for uri, b in bodies if isinstance(b, dict) and b.get("allBuilds"))
    describe = next(b for uri, b in bodies if "wfapi/describe" in uri and b.get("stages"))
    blue = next((b[0] for uri, b in bodies if "/blue/" in uri and isinstance(b, list) and b), None)
    stage = {k: v for k, v in describe["stages"][0].items() if k != "_links"}
    blue = blue or {
        "displayName": "stage",
        "durationInMillis": 0,
        "edges": [],
        "id": "1",
        "result": "SUCCESS",
        "startTime": "",
        "state": "FINISHED",
    }
    return JenkinsTemplates(listing["allBuilds"][0], stage, blue, "cassettes/jenkins/pipeline.yaml")


# ---- GitHub ------------------------------------------------------------------------


@dataclass(frozen=True)
class GitHubShape:
    """`runs` finished one-attempt runs of `jobs` jobs of `steps` steps, every `spacing_ms`."""

    owner: str
    name: str
    runs: int
    jobs: int
    steps: int
    start_ms: int
    spacing_ms: int
    first_id: int = 30_000_000_000

    @property
    def events_per_run(self) -> int:
        return 1 + self.jobs * (1 + self.steps)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.runs * self.spacing_ms


def _iso(ms: int) -> str:
    return ms_to_iso(ms)


def github_run(t: GitHubTemplates, shape: GitHubShape, n: int) -> dict[str, Any]:
    """Run `n` of the history: the real run body with its identity and times replaced."""
    run_id = shape.first_id + n
    created = shape.start_ms + n * shape.spacing_ms
    duration = SECOND * 5 + shape.steps * 10 * SECOND + shape.jobs * SECOND
    web = f"https://github.com/{shape.owner}/{shape.name}"
    api = f"https://api.github.com/repos/{shape.owner}/{shape.name}/actions/runs/{run_id}"
    return {
        **t.run,
        "id": run_id,
        "run_number": n + 1,
        "run_attempt": 1,
        "node_id": f"WFR_{run_id}",
        "status": "completed",
        "conclusion": "failure" if n % 9 == 4 else "success",
        "created_at": _iso(created),
        "run_started_at": _iso(created),
        "updated_at": _iso(created + duration + MINUTE),
        "html_url": f"{web}/actions/runs/{run_id}",
        "url": api,
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "previous_attempt_url": None,
        "head_branch": "main" if n % 3 else f"feature/{n % 17}",
        "head_sha": f"{run_id:040x}",
        "path": ".github/workflows/ci.yml",
        "name": "CI",
    }


def github_jobs(t: GitHubTemplates, shape: GitHubShape, run: Mapping[str, Any]) -> list[Any]:
    """The run's jobs page items: `jobs` real-shaped jobs of `steps` steps each."""
    run_id = run["id"]
    created = shape.start_ms + (run_id - shape.first_id) * shape.spacing_ms
    names = [
        t.step["name"],
        "Checkout",
        "Install",
        "Build",
        "Test",
        "Lint",
        "Upload",
        "Cache",
        "Report",
        "Complete job",
    ]
    jobs = []
    for j in range(shape.jobs):
        job_id = run_id * 100 + j
        queued = created + j * SECOND
        started = queued + 5 * SECOND
        steps = [
            {
                **t.step,
                "name": f"{names[s % len(names)]}"
                + (f" {s // len(names)}" if s >= len(names) else ""),
                "number": s + 1,
                "status": "completed",
                "conclusion": "failure"
                if run["conclusion"] == "failure" and j == 0 and s == shape.steps - 1
                else "success",
                "started_at": _iso(started + s * 10 * SECOND),
                "completed_at": _iso(started + (s + 1) * 10 * SECOND),
            }
            for s in range(shape.steps)
        ]
        jobs.append(
            {
                **t.job,
                "id": job_id,
                "run_id": run_id,
                "run_attempt": 1,
                "node_id": f"CR_{job_id}",
                "name": f"{t.job['name']} ({j + 1}/{shape.jobs})",
                "head_sha": run["head_sha"],
                "head_branch": run["head_branch"],
                "status": "completed",
                "conclusion": "failure" if run["conclusion"] == "failure" and j == 0 else "success",
                "created_at": _iso(queued),
                "started_at": _iso(started),
                "completed_at": _iso(started + shape.steps * 10 * SECOND),
                "html_url": f"{run['html_url']}/job/{job_id}",
                "steps": steps,
            }
        )
    return jobs


class LazyJobs(Mapping[tuple[int, int], list[Any]]):
    """``(run id, attempt) -> jobs``, built when asked: 20,000 runs of 50 steps stay cheap."""

    def __init__(self, t: GitHubTemplates, shape: GitHubShape, runs: Mapping[int, Any]) -> None:
        self.t, self.shape, self.runs = t, shape, runs

    def __getitem__(self, key: tuple[int, int]) -> list[Any]:
        bodies = self.runs.get(key[0])
        if not bodies or key[1] != 1:
            raise KeyError(key)
        return github_jobs(self.t, self.shape, bodies[0])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((run_id, 1) for run_id in self.runs)

    def __len__(self) -> int:
        return len(self.runs)


def add_github_history(model: GitHubModel, t: GitHubTemplates, shape: GitHubShape) -> None:
    repo = model.repo(shape.owner, shape.name)
    for n in range(shape.runs):
        run = github_run(t, shape, n)
        repo.attempts[run["id"]] = [run]
    repo.jobs = LazyJobs(t, shape, repo.attempts)  # type: ignore[assignment]


# ---- Jenkins -----------------------------------------------------------------------


@dataclass(frozen=True)
class JenkinsShape:
    """`builds` finished Pipeline builds of `stages` stages; every `parallel_every`-th build
    (0: none) runs two of them as parallel branches."""

    job: str
    builds: int
    stages: int
    start_ms: int
    parallel_every: int = 0

    def parallel(self, number: int) -> bool:
        return self.parallel_every > 0 and number % self.parallel_every == 0


STAGE_SECONDS = 10


def jenkins_build(t: JenkinsTemplates, shape: JenkinsShape, base_url: str, number: int) -> Build:
    start = shape.start_ms + number * 30 * MINUTE
    result = "FAILURE" if number % 11 == 5 else "SUCCESS"
    parallel = shape.parallel(number)
    stages: list[dict[str, Any]] = []
    clock = start + 2 * SECOND
    for k in range(shape.stages):
        length = STAGE_SECONDS * SECOND
        if parallel and k == 2:  # branch of stage 1: runs beside stage 1's other branch
            stage_start = stages[1]["startTimeMillis"] + 10
        else:
            stage_start = clock
            clock += length
        stages.append(
            {
                **t.stage,
                "id": str(6 + 4 * k),
                "name": f"Stage {k + 1}",
                "status": "FAILED" if result == "FAILURE" and k == shape.stages - 1 else "SUCCESS",
                "startTimeMillis": stage_start,
                "durationMillis": length,
                "pauseDurationMillis": 0,
            }
        )
    body = copy.deepcopy(t.build)
    job_url = base_url + "/" + "".join(f"job/{n}/" for n in shape.job.split("/"))
    body.update(
        {
            "number": number,
            "id": str(number),
            "displayName": f"#{number}",
            "fullDisplayName": f"{' » '.join(shape.job.split('/'))} #{number}",
            "url": f"{job_url}{number}/",
            "timestamp": start,
            "duration": clock - start + SECOND,
            "building": False,
            "result": result,
            "queueId": 1000 + number,
            "nextBuild": None,
            "previousBuild": None,
        }
    )
    blue = _blue_nodes(t, stages) if parallel else None
    return Build(body, stages=stages, blue_nodes=blue)


def _blue_nodes(t: JenkinsTemplates, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blue Ocean's graph of a build whose stages 2 and 3 are parallel branches."""
    nodes = []
    for index, stage in enumerate(stages):
        kind = "PARALLEL" if index in (1, 2) else "STAGE"
        following = [stages[index + 1]["id"]] if index + 1 < len(stages) else []
        if index == 0 and len(stages) > 2:
            following = [stages[1]["id"], stages[2]["id"]]
        elif index == 1:
            following = [stages[3]["id"]] if len(stages) > 3 else []
        start = stage["startTimeMillis"]
        nodes.append(
            {
                **t.blue_node,
                "id": stage["id"],
                "displayName": stage["name"],
                "type": kind,
                "durationInMillis": stage["durationMillis"],
                "result": "FAILURE" if stage["status"] == "FAILED" else "SUCCESS",
                "state": "FINISHED",
                "firstParent": None,
                "startTime": ms_to_iso(start).replace("Z", "") + f".{start % 1000:03d}+0000",
                "edges": [
                    {
                        "_class": "io.jenkins.blueocean.rest.impl.pipeline.PipelineNodeImpl"
                        "$EdgeImpl",
                        "id": e,
                        "type": "STAGE",
                    }
                    for e in following
                ],
            }
        )
    return nodes


def add_jenkins_history(server: JenkinsStandIn, t: JenkinsTemplates, shape: JenkinsShape) -> None:
    parts = shape.job.split("/")
    for depth in range(1, len(parts)):
        server.folder("/".join(parts[:depth]))
    server.job(shape.job)
    for number in range(1, shape.builds + 1):
        server.add_build(shape.job, jenkins_build(t, shape, server.url, number))
