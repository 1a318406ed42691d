"""A GitHub or Jenkins run delivering to Trunk never imports httpx (0.12 s of CPU to import).

httpx is for the CircleCI client and the OTLP sink; the Trunk sink posts through urllib3.
The real CLI runs in a subprocess that prints, at exit, every HTTP-library module loaded.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_environment
from tests.servers.circleci import TOKEN as CIRCLECI_TOKEN
from tests.servers.circleci import CircleCIWorld, running_circleci
from tests.servers.github import GitHubServer, running_github
from tests.servers.jenkins import running_jenkins
from tests.servers.trunk import TOKEN, TrunkStandIn
from tests.sources.github import scenarios as github_scenarios
from tests.sources.jenkins.scenarios import populate

PROBE = (
    "import atexit, runpy, sys;"
    "atexit.register(lambda: print(sorted(m for m in sys.modules"
    " if m.split('.')[0] in ('httpx', 'httpcore', 'h11')), file=sys.stderr));"
    "sys.argv = ['ci-collector', *sys.argv[1:]];"
    "runpy.run_module('ci_collector', run_name='__main__')"
)


def run_probed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**cli_environment(env), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def loaded(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    base = now_ms - now_ms % github_scenarios.HOUR - 10 * github_scenarios.HOUR
    with running_github(github_scenarios.catalogue(base)) as server:
        yield server


@pytest.mark.parametrize("token", ["ghp_no-httpx-token-0123456789", None])
def test_a_github_run_to_trunk_loads_no_httpx(
    github: GitHubServer, trunk: TrunkStandIn, tmp_path: Path, token: str | None
) -> None:
    env = {"GITHUB_API_URL": github.url, "TRUNK_API_TOKEN": TOKEN, "TRUNK_API_URL": trunk.url}
    if token:
        env["GITHUB_TOKEN"] = token
    repo = f"{github_scenarios.OWNER}/{github_scenarios.NAME}"
    done = run_probed("github", "--repo", repo, "--state", str(tmp_path / "s.sqlite"), env=env)
    assert loaded(done) == "[]"
    assert trunk.posts > 0 and len(trunk.events) > 0  # it did deliver


def test_a_jenkins_run_to_trunk_loads_no_httpx(trunk: TrunkStandIn, tmp_path: Path) -> None:
    with running_jenkins() as jenkins:
        populate(jenkins)
        done = run_probed(
            "jenkins",
            "--url",
            jenkins.url,
            "--trunk-url",
            trunk.url,
            "--state",
            str(tmp_path / "s.sqlite"),
            env={"TRUNK_API_TOKEN": TOKEN},
        )
    assert loaded(done) == "[]"
    assert trunk.posts > 0 and len(trunk.events) > 0


def test_the_probe_sees_httpx_when_a_circleci_run_loads_it(tmp_path: Path) -> None:
    """CircleCI's client is httpx's: the checks above are not vacuous."""
    with running_circleci(CircleCIWorld()) as world:
        done = run_probed(
            "circleci",
            "--project-slug",
            "gh/acme/widgets",
            "--circleci-api-url",
            world.server.url + "/api/v2",
            "--output",
            str(tmp_path / "o.jsonl"),
            env={"CIRCLECI_TOKEN": CIRCLECI_TOKEN},
        )
    assert {"'httpx'", "'httpcore'", "'h11'"} <= set(loaded(done).strip("[]").split(", "))
