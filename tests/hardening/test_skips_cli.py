"""A run the collector cannot map, through a loopback platform and the real CLI.

Without ``--fail-fast`` it is skipped with a warning naming it and the rest of the poll
is written; with ``--fail-fast`` the command stops at it: exit 1, one line.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubModel, running_github
from tests.servers.github_bodies import T0
from tests.servers.jenkins import running_jenkins
from tests.sources.github.scenarios import NAME, OWNER, bulk
from tests.sources.jenkins.scenarios import APP, SENT_BUILDS, populate


@dataclass
class Case:
    args: list[str]
    env: dict[str, str]
    broken: str
    """How the skipped run is named in the warning."""
    roots: int
    """Chains written when the broken run is skipped."""


def github_case() -> Iterator[Case]:
    model = GitHubModel()
    ids = bulk(model, 3, T0, 3_600_000)
    model.repo(OWNER, NAME).jobs[(ids[1], 1)][0]["steps"] = "not a list"
    with running_github(model) as server:
        yield Case(
            [
                "github",
                "--repo",
                f"{OWNER}/{NAME}",
                "--github-api-url",
                server.url,
                "--since",
                "2024-12-31",
            ],
            {},
            f"skipped 127.0.0.1/{OWNER}/{NAME}/actions/runs/{ids[1]}/attempts/1: ",
            2,
        )


def jenkins_case() -> Iterator[Case]:
    with running_jenkins() as server:
        populate(server)
        # only the broken build is skipped: not the deleted one, not the Enterprise one (#6)
        server.jobs[APP].builds = [
            b for b in server.jobs[APP].builds if not b.gone and b.body["number"] != 6
        ]
        server.build(APP, 2).raw_describe = b'{"stages": "not a list"}'
        yield Case(
            ["jenkins", "--url", server.url], {}, f"skipped {APP} #2: ", SENT_BUILDS - 2 - 2
        )  # two downstream builds share upstream chains


def circleci_case() -> Iterator[Case]:
    world = CircleCIWorld()
    now = datetime.now(timezone.utc)
    for number in (1, 2, 3):
        created = now - timedelta(hours=10 * number)
        pipeline = world.add_pipeline(number, created)
        workflow = world.add_workflow(
            pipeline, f"wf-{number}", "ci", "success", created, created + timedelta(minutes=3)
        )
        world.add_job(workflow, "build", "success", created, created + timedelta(minutes=3))
    broken = world.workflows[world.pipelines[1]["id"]][0]["id"]
    world.broken[f"/workflow/{broken}/job"] = b'{"items": "not a list"}'
    with running_circleci(world):
        yield Case(
            ["circleci", "--project-slug", "gh/acme/widgets", "--circleci-api-url", world.api_url],
            {"CIRCLECI_TOKEN": CIRCLECI_TOKEN},
            f"skipped CircleCI workflow 'ci' ({broken})",
            2,
        )


@pytest.fixture(params=["github", "jenkins", "circleci"])
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    factory = {"github": github_case, "jenkins": jenkins_case, "circleci": circleci_case}
    yield from factory[request.param]()


def roots(path: Path) -> int:
    events = [e for line in path.read_text().splitlines() for e in json.loads(line)["events"]]
    return sum(1 for e in events if "parent" not in e)


def run(case: Case, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*case.args, "--output", str(tmp_path / "o.jsonl"), *extra, env=case.env)


def test_an_unmappable_run_is_skipped_by_name_and_the_poll_goes_on(
    case: Case, tmp_path: Path
) -> None:
    result = run(case, tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and case.broken in warnings[0], result.stderr
    assert "Traceback" not in result.stderr
    assert roots(tmp_path / "o.jsonl") == case.roots


def test_fail_fast_stops_at_it_in_one_line(case: Case, tmp_path: Path) -> None:
    result = run(case, tmp_path, "--fail-fast", "-q")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("ci-collector: error: " + case.broken)
    assert result.stderr.rstrip().endswith("(--fail-fast)")
