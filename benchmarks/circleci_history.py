"""Any amount of CircleCI history, built from real response templates.

The templates are real API v2 list items read in place from ``../shared/fixtures/circleci``
(apache/devlake's recorded pipeline, workflow and job items of one public project);
where that folder is absent, the project's cassette ``cassettes/circleci/poll.yaml``
provides the same shapes. Only identities, names, statuses and times are rewritten, so
every item keeps the fields the collector skips. Its own module (not `history.py`) so
neither grows past the project's 400 lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from history import FIXTURES, SECOND, _cassette_bodies, _fixture

from tests.servers.circleci import CircleCIWorld, ids

CIRCLECI_PIPELINES = "circleci/devlake_project_pipeline_items.json"
CIRCLECI_WORKFLOWS = "circleci/devlake_pipeline_workflow_items.json"
CIRCLECI_JOBS = "circleci/devlake_workflow_job_items.json"
CIRCLECI_CASSETTE = "circleci/poll.yaml"
PAGE_SIZE = 20
"""Items per page, as CircleCI's API v2 lists send them."""


@dataclass(frozen=True)
class CircleCITemplates:
    pipeline: dict[str, Any]
    workflow: dict[str, Any]
    job: dict[str, Any]
    origin: str


def circleci_templates() -> CircleCITemplates:
    if (FIXTURES / CIRCLECI_PIPELINES).exists():
        # the first pipeline with a vcs block (devlake's newest one errored: no config)
        pipeline = next(i["data"] for i in _fixture(CIRCLECI_PIPELINES) if "vcs" in i["data"])
        workflow = _fixture(CIRCLECI_WORKFLOWS)[0]["data"]
        job = _fixture(CIRCLECI_JOBS)[0]["data"]
        return CircleCITemplates(pipeline, workflow, job, f"fixtures/{CIRCLECI_PIPELINES} (+ 2)")
    bodies = _cassette_bodies(CIRCLECI_CASSETTE)

    def first(fragment: str) -> dict[str, Any]:
        return next(b["items"][0] for uri, b in bodies if fragment in uri and b.get("items"))

    return CircleCITemplates(
        first("/pipeline"), first("/workflow"), first("/job"), f"cassettes/{CIRCLECI_CASSETTE}"
    )


@dataclass(frozen=True)
class CircleCIShape:
    """`pipelines` settled pipelines of `workflows` finished workflows of `jobs` jobs each,
    one every `spacing_ms` from `start_ms`."""

    slug: str
    pipelines: int
    workflows: int
    jobs: int
    start_ms: int
    spacing_ms: int

    @property
    def runs(self) -> int:
        """Run attempts: each finished workflow is one."""
        return self.pipelines * self.workflows

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.pipelines * self.spacing_ms


WORKFLOW_NAMES = ["build-and-test", "lint", "deploy", "nightly", "docs"]
JOB_NAMES = ["checkout", "install", "build", "test", "lint", "package", "upload", "notify"]
JOB_SECONDS = 40


def iso_ms(ms: int) -> str:
    """CircleCI's pipeline time format: milliseconds and a Z."""
    from ci_collector.times import ms_to_iso

    return f"{ms_to_iso(ms)[:-1]}.{ms % 1000:03d}Z"


def _seconds(ms: int) -> str:
    from ci_collector.times import ms_to_iso

    return ms_to_iso(ms)


def circleci_pipeline(t: CircleCITemplates, shape: CircleCIShape, n: int) -> dict[str, Any]:
    """Pipeline `n` of the history: the real item with its identity and times replaced."""
    _, org, name = shape.slug.split("/")
    created = shape.start_ms + n * shape.spacing_ms + 137
    repository = f"https://github.com/{org}/{name}"
    vcs = t.pipeline.get("vcs", {})
    return {
        **t.pipeline,
        "id": ids(f"{shape.slug}/pipeline/{n}"),
        "errors": [],
        "project_slug": shape.slug,
        "number": n + 1,
        "state": "created",
        "created_at": iso_ms(created),
        "updated_at": iso_ms(created),
        "trigger": {**t.pipeline["trigger"], "received_at": iso_ms(created - 186)},
        "vcs": {
            **vcs,
            "origin_repository_url": repository,
            "target_repository_url": repository,
            "revision": f"{n + 1:040x}",
            "branch": "main" if n % 3 else f"feature/{n % 17}",
            "commit": {**vcs.get("commit", {}), "subject": f"change {n + 1}"},
        },
    }


def circleci_workflows(
    t: CircleCITemplates, shape: CircleCIShape, pipeline: dict[str, Any], n: int
) -> list[dict[str, Any]]:
    """The pipeline's finished workflows (1 in 7 failed), started a second apart."""
    created = shape.start_ms + n * shape.spacing_ms + SECOND
    workflows = []
    for w in range(shape.workflows):
        start = created + w * SECOND
        name = WORKFLOW_NAMES[w % len(WORKFLOW_NAMES)] + (
            f"-{w // len(WORKFLOW_NAMES)}" if w >= len(WORKFLOW_NAMES) else ""
        )
        workflows.append(
            {
                **t.workflow,
                "pipeline_id": pipeline["id"],
                "id": ids(f"{pipeline['id']}/workflow/{w}"),
                "name": name,
                "project_slug": shape.slug,
                "status": "failed" if (n * shape.workflows + w) % 7 == 3 else "success",
                "pipeline_number": pipeline["number"],
                "created_at": _seconds(start),
                "stopped_at": _seconds(start + (shape.jobs * JOB_SECONDS + 5) * SECOND),
            }
        )
    return workflows


def circleci_jobs(
    t: CircleCITemplates, shape: CircleCIShape, workflow: dict[str, Any], first_number: int
) -> list[dict[str, Any]]:
    """The workflow's jobs in a chain (each depends on the one before), numbered from
    `first_number`; the last job of a failed workflow failed."""
    from ci_collector.times import iso_to_ms

    begin = (iso_to_ms(workflow["created_at"]) or 0) + 2 * SECOND
    jobs: list[dict[str, Any]] = []
    for j in range(shape.jobs):
        start = begin + j * JOB_SECONDS * SECOND
        failed = workflow["status"] == "failed" and j == shape.jobs - 1
        jobs.append(
            {
                **t.job,
                "dependencies": [jobs[-1]["id"]] if jobs else [],
                "job_number": first_number + j,
                "id": ids(f"{workflow['id']}/job/{j}"),
                "created_at": _seconds(start - 2 * SECOND),
                "started_at": _seconds(start),
                "name": JOB_NAMES[j % len(JOB_NAMES)] + (f"-{j}" if j >= len(JOB_NAMES) else ""),
                "project_slug": shape.slug,
                "status": "failed" if failed else "success",
                "type": "build",
                "stopped_at": _seconds(start + (JOB_SECONDS - 3) * SECOND),
            }
        )
    return jobs


def circleci_world(t: CircleCITemplates, shape: CircleCIShape) -> CircleCIWorld:
    """The test suite's CircleCI model holding the whole history (its own loopback server
    is never started: `serve.py` serves its handler)."""
    world = CircleCIWorld(shape.slug, page_size=PAGE_SIZE)
    number = 1
    for n in range(shape.pipelines):
        pipeline = circleci_pipeline(t, shape, n)
        world.pipelines.append(pipeline)
        world.workflows[pipeline["id"]] = circleci_workflows(t, shape, pipeline, n)
        for workflow in world.workflows[pipeline["id"]]:
            world.jobs[workflow["id"]] = circleci_jobs(t, shape, workflow, number)
            number += shape.jobs
    world.pipelines.reverse()  # newest first, as CircleCI lists them
    return world
