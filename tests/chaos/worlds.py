"""The platforms a chaos schedule runs against: a seeded history on a loopback stand-in,
the command that collects it, and how a run is deleted between list and fetch."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from ci_collector.model import Repo
from ci_collector.sources.github.mapping import natural_key as github_key
from ci_collector.sources.jenkins.mapping import natural_key as jenkins_key
from tests.chaos.faults import Deleter
from tests.servers.base import LoopbackServer, Request
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld
from tests.servers.github import GitHubModel, GitHubServer
from tests.servers.github_bodies import job_body, run_body, standard_steps
from tests.servers.jenkins import Build, JenkinsStandIn
from tests.sources.jenkins.scenarios import (
    APP,
    APP_REMOTE,
    build_body,
    build_data,
    populate,
    stage,
    user_cause,
)

PLATFORMS = ("github", "jenkins", "circleci")
MINUTE = 60_000


@dataclass
class World:
    """One platform's stand-in, ready to serve; what to run and what must never be sent."""

    platform: str
    server: LoopbackServer
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    unfinished: set[str] = field(default_factory=set)
    """Natural keys of runs still going: none of their events may reach Trunk."""
    deleted: set[str] = field(default_factory=set)
    """Natural keys of runs deleted between list and fetch (filled in as it happens)."""
    deleter: Deleter | None = None


@contextmanager
def open_world(platform: str, rng: random.Random) -> Iterator[World]:
    if platform == "github":
        world = _github(rng)
    elif platform == "jenkins":
        world = _jenkins(rng)
    else:
        world = _circleci(rng)
    with world.server:
        yield world


# ---- GitHub Actions ----------------------------------------------------------------------

OWNER, NAME = "acme", "widgets"


def _github(rng: random.Random) -> World:
    model = GitHubModel()
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now - 30 * 60 * MINUTE
    unfinished: set[str] = set()
    repo = Repo("127.0.0.1", OWNER, NAME)
    for n in range(rng.randint(4, 9)):
        run_id = 500 + n
        created = base + n * 90 * MINUTE + rng.randrange(60_000)
        attempts = 2 if rng.random() < 0.25 else 1
        for attempt in range(1, attempts + 1):
            start = created + (attempt - 1) * 20 * MINUTE
            running = n == 3 and attempt == attempts
            run = run_body(
                OWNER,
                NAME,
                run_id,
                created=created,
                run_number=n + 1,
                attempt=attempt,
                started=start,
                status="in_progress" if running else "completed",
                conclusion=None if running else rng.choice(("success", "failure")),
            )
            jobs = [
                job_body(
                    OWNER,
                    NAME,
                    run,
                    run_id * 100 + attempt * 10 + j,
                    f"job {j}",
                    created=start,
                    started=start + 5000,
                    completed=start + 65_000,
                    steps=standard_steps(start + 5000),
                )
                for j in range(rng.randint(1, 3))
            ]
            model.add_attempt(OWNER, NAME, run, jobs)
            if running:
                unfinished.add(github_key(repo, run_id, attempt))
    server = GitHubServer(model)
    world = World(
        "github",
        server.server,
        [
            "github",
            "--repo",
            f"{OWNER}/{NAME}",
            "--github-api-url",
            server.url,
            "--max-wait",
            "1.5",
        ],
        unfinished=unfinished,
    )
    jobs_path = re.compile(r"^/repos/[^/]+/[^/]+/actions/runs/(\d+)/attempts/\d+/jobs")

    def delete(request: Request) -> bool:
        match = jobs_path.match(request.path)
        attempts = model.repo(OWNER, NAME).attempts
        if match is None or int(match.group(1)) not in attempts:
            return False
        run_id = int(match.group(1))
        for attempt in range(1, len(attempts.pop(run_id)) + 1):
            model.repo(OWNER, NAME).jobs.pop((run_id, attempt), None)
            world.deleted.add(github_key(repo, run_id, attempt))
        return True

    world.deleter = delete
    return world


# ---- Jenkins -----------------------------------------------------------------------------

EXTRA = "team/extra"


def _jenkins(rng: random.Random) -> World:
    server = JenkinsStandIn()
    populate(server)  # folders, multibranch, parallel stages, downstream builds, #7 running
    server.job(EXTRA)
    for number in range(1, rng.randint(2, 6)):
        body = build_body(
            server,
            EXTRA,
            number,
            rng.choice(("SUCCESS", "FAILURE")),
            user_cause(),
            build_data(APP_REMOTE, f"{number:040x}"),
        )
        start = body["timestamp"]
        server.add_build(
            EXTRA,
            Build(
                body,
                stages=[
                    stage(6, "Build", "SUCCESS", start + 1000, 20_000),
                    stage(12, "Test", "SUCCESS", start + 21_000, 30_000),
                ],
            ),
        )
    world = World("jenkins", server.server, ["jenkins", "--url", server.url])
    world.unfinished.add(jenkins_key(server.url.split("//", 1)[1], APP, 7))
    describe = re.compile(r"^/((?:job/[^/]+/)+)(\d+)/wfapi/describe$")

    def delete(request: Request) -> bool:
        match = describe.match(request.path)
        if match is None:
            return False
        path = "/".join(unquote(name) for name in match.group(1).strip("/").split("/")[1::2])
        build = next((b for b in server.jobs[path].builds if b.number == int(match.group(2))), None)
        if build is None or build.gone:
            return False
        build.gone = True
        world.deleted.add(jenkins_key(server.url.split("//", 1)[1], path, build.number))
        return True

    world.deleter = delete
    return world


# ---- CircleCI ----------------------------------------------------------------------------

SLUG = "gh/acme/widgets"


def _circleci(rng: random.Random) -> World:
    world_model = CircleCIWorld(page_size=2)
    now = datetime.now(timezone.utc).replace(microsecond=0)

    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    unfinished: set[str] = set()
    count = rng.randint(3, 7)
    for n in range(1, count + 1):
        hours = 60 - n * 7
        pipeline = world_model.add_pipeline(n, ago(hours))
        names = (
            ["ci"]
            + (["ci"] if rng.random() < 0.3 else [])
            + (["deploy"] if rng.random() < 0.3 else [])
        )
        for index, name in enumerate(names):
            running = n == count and index == 0
            status = "running" if running else rng.choice(("success", "failed"))
            created = ago(hours - index)
            workflow = world_model.add_workflow(
                pipeline,
                f"wf-{n}-{index}",
                name,
                status,
                created,
                None if running else created + timedelta(minutes=5),
            )
            for j in range(rng.randint(1, 3)):
                world_model.add_job(
                    workflow,
                    f"job-{j}",
                    "success",
                    created + timedelta(seconds=10 + j),
                    created + timedelta(minutes=4),
                )
            if running:
                unfinished.add(_circleci_key(workflow["id"]))
    world = World(
        "circleci",
        world_model.server,
        [
            "circleci",
            "--project-slug",
            SLUG,
            "--circleci-api-url",
            world_model.api_url,
        ],
        env={"CIRCLECI_TOKEN": CIRCLECI_TOKEN},
        unfinished=unfinished,
    )
    listed_after = re.compile(r"^/api/v2/(?:workflow/([^/]+)/job|pipeline/([^/]+)/workflow)")

    def delete(request: Request) -> bool:
        """CircleCI's retention drops whole pipelines (workflows are never deleted alone,
        and dropping one would renumber the re-runs of its siblings)."""
        match = listed_after.match(request.path)
        if match is None:
            return False
        workflow_id, pipeline_id = match.groups()
        if workflow_id is not None:
            pipeline_id = next(
                (
                    p
                    for p, flows in world_model.workflows.items()
                    if any(w["id"] == workflow_id for w in flows)
                ),
                None,
            )
        if pipeline_id is None or pipeline_id not in world_model.workflows:
            return False
        for workflow in world_model.workflows.pop(pipeline_id):
            world_model.jobs.pop(workflow["id"], None)
            world.deleted.add(_circleci_key(workflow["id"]))
        # it stays in the pipeline list: the stand-in pages by offset, and taking an item
        # out would shift pages in a way CircleCI's opaque page tokens do not
        return True

    world.deleter = delete
    return world


def _circleci_key(workflow_id: str) -> str:
    return f"127.0.0.1/{SLUG}/workflows/{workflow_id}"
