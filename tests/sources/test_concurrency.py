"""--concurrency: the same bodies, in the same order, for the same requests as one at a time.

The stand-ins answer each request after a delay drawn from its path, so with several
requests in flight later runs' answers often arrive first; the dry-run output must not
change by a byte, and neither may the number of requests.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.base import LoopbackServer, Reply, Request
from tests.servers.circleci import TOKEN as CIRCLE_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, running_github
from tests.servers.jenkins import running_jenkins
from tests.sources.github import scenarios as sc
from tests.sources.jenkins.scenarios import populate

JENKINS_USER, JENKINS_TOKEN = "ci-bot", "jenkins-concurrency-token-0123"


class Jitter:
    """Delays every answer by 0-`spread` seconds (a hash of the path), counts paths and
    the most requests it was answering at once."""

    def __init__(self, server: LoopbackServer, spread: float) -> None:
        self.spread = spread
        self.paths: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        server.intercept = self

    def __call__(self, request: Request, handle: Callable[[], Reply]) -> Reply:
        digest = hashlib.sha256(request.path.encode()).digest()
        with self._lock:
            self.paths[request.path] += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(digest[0] / 255 * self.spread)
            return handle()
        finally:
            with self._lock:
                self.in_flight -= 1


def dry_runs(args: list[str], env: dict[str, str], jitter: Jitter, tmp_path: Path) -> list[bytes]:
    """The dry-run output at concurrency 1, 8 and 3; the requests each sent must match."""
    outputs, requests = [], []
    for concurrency in ("1", "8", "3"):
        jitter.paths.clear()
        out = tmp_path / f"out-{concurrency}.jsonl"
        done = run_cli(
            *args, "--output", str(out), env={**env, "CI_COLLECTOR_CONCURRENCY": concurrency}
        )
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
        requests.append(dict(jitter.paths))
    assert requests[0] == requests[1] == requests[2]
    assert outputs[0]
    return outputs


def roots(output: bytes) -> int:
    return sum(
        1
        for line in output.splitlines()
        for event in json.loads(line)["events"]
        if "parent" not in event
    )


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_github_bodies_are_byte_identical_at_any_concurrency(spread: float, tmp_path: Path) -> None:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % sc.HOUR - 10 * sc.HOUR
    model: GitHubModel = sc.catalogue(base)
    sc.bulk(model, 45, base - 2 * sc.DAY, spacing_ms=7 * sc.MIN, jobs_per_run=3)
    with running_github(model) as server:
        jitter = Jitter(server.server, spread)
        env = {"GITHUB_TOKEN": "ghp_concurrency-token-1234", "GITHUB_API_URL": server.url}
        outputs = dry_runs(["github", "--repo", f"{sc.OWNER}/{sc.NAME}"], env, jitter, tmp_path)
    assert outputs[0] == outputs[1] == outputs[2]
    assert roots(outputs[0]) == 45 + 7
    assert jitter.most_in_flight > 1  # it really did fetch concurrently


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_jenkins_bodies_are_byte_identical_at_any_concurrency(
    spread: float, tmp_path: Path
) -> None:
    with running_jenkins(JENKINS_USER, JENKINS_TOKEN) as jenkins:
        populate(jenkins)
        jitter = Jitter(jenkins.server, spread)
        env = {"JENKINS_USER": JENKINS_USER, "JENKINS_API_TOKEN": JENKINS_TOKEN}
        outputs = dry_runs(["jenkins", "--url", jenkins.url], env, jitter, tmp_path)
    assert outputs[0] == outputs[1] == outputs[2]
    assert jitter.most_in_flight > 1


def circle_world(pipelines: int) -> CircleCIWorld:
    now = datetime.now(timezone.utc)
    world = CircleCIWorld(page_size=4)
    for n in range(1, pipelines + 1):
        at = now - timedelta(hours=60 - n)
        pipeline = world.add_pipeline(n, at)
        for w in range(1 + n % 2):  # every other pipeline has a re-run
            end = at + timedelta(minutes=10 + w)
            workflow = world.add_workflow(pipeline, f"wf-{n}-{w}", "ci", "success", at, end)
            world.add_job(workflow, "build", "success", at, end)
            world.add_job(workflow, "test", "failed" if n % 5 == 0 else "success", at, end)
    return world


@pytest.mark.parametrize("spread", [0.008, 0.02])  # answers late enough to be worth workers
def test_circleci_bodies_are_byte_identical_at_any_concurrency(
    spread: float, tmp_path: Path
) -> None:
    world = circle_world(18)
    with running_circleci(world):
        jitter = Jitter(world.server, spread)
        args = ["circleci", "--project-slug", "github/acme/widgets"]
        args += ["--circleci-api-url", world.api_url]
        outputs = dry_runs(args, {"CIRCLECI_TOKEN": CIRCLE_TOKEN}, jitter, tmp_path)
    assert outputs[0] == outputs[1] == outputs[2]
    assert roots(outputs[0]) == 18 + 9
    assert jitter.most_in_flight > 1


@pytest.fixture
def no_servers() -> Iterator[None]:
    yield


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_bad_concurrency_is_a_usage_error(value: str, no_servers: None) -> None:
    done = run_cli("jenkins", "--url", "http://127.0.0.1:9", "--concurrency", value, "-q")
    assert done.returncode == 2
    assert "--concurrency" in done.stderr
