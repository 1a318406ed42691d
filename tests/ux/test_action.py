"""The GitHub Action fails loudly when it would send nothing, and reports what Trunk took.

The action's own bash steps run here as a runner would run them, with the real CLI behind
``ci-collector`` and loopback stand-ins for GitHub and Trunk.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.servers.base import Reply
from tests.servers.github import GitHubServer, running_github
from tests.servers.trunk import TOKEN, TrunkStandIn, running_trunk
from tests.sources.github import scenarios as sc

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]


def script(name: str) -> str:
    return next(s["run"] for s in STEPS if s.get("id") == name or s.get("name") == name)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    outputs: str
    summary: str


@dataclass
class Runner:
    """A fake runner: env of a workflow_run-triggered job, files for outputs and summary."""

    tmp: Path
    github: GitHubServer
    trunk: TrunkStandIn

    def run(self, step: str, **env: str) -> Outcome:
        bin_dir = self.tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        launcher = bin_dir / "ci-collector"
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ci_collector "$@"\n')
        launcher.chmod(0o755)
        outputs, summary = self.tmp / "github_output", self.tmp / "step_summary"
        outputs.write_text(""), summary.write_text("")
        full = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT / "src"),
            "HOME": str(self.tmp),
            "XDG_STATE_HOME": str(self.tmp / "state"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_RUN_ID": "1",
            "GITHUB_REPOSITORY": "acme/ci",
            "GITHUB_TOKEN": "ghp_action-test-token-0000",
            "TRUNK_API_TOKEN": TOKEN,
            "TRUNK_API_URL": self.trunk.url,
            "INPUT_RUN_ID": "",
            "INPUT_REPO": "",
            "INPUT_OUTPUT": "",
            "TRIGGER_RUN_ID": str(sc.RERUN_RUN),
            "TRIGGER_RUN_ATTEMPT": "2",
            "TRIGGER_REPO": f"{sc.OWNER}/{sc.NAME}",
            **env,
        }
        result = subprocess.run(
            ["bash", "-c", script(step)],
            env=full,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        return Outcome(
            result.returncode,
            result.stdout,
            result.stderr,
            outputs.read_text(),
            summary.read_text(),
        )


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    with running_github(sc.catalogue()) as github, running_trunk() as trunk:
        yield Runner(tmp_path, github, trunk)


@pytest.mark.parametrize("token", ["", " ", "\n", "\t \n"])
def test_an_empty_trunk_token_fails_the_step_naming_the_input(token: str, runner: Runner) -> None:
    outcome = runner.run("Check inputs", TRUNK_API_TOKEN=token)
    assert outcome.code != 0
    (line,) = outcome.stdout.splitlines()
    assert line.startswith("::error")
    assert "trunk-token" in line


@pytest.mark.parametrize(
    "env", [{"TRUNK_API_TOKEN": TOKEN}, {"TRUNK_API_TOKEN": "", "INPUT_OUTPUT": "out.jsonl"}]
)
def test_a_token_or_a_dry_run_passes_the_check(env: dict[str, str], runner: Runner) -> None:
    outcome = runner.run("Check inputs", **env)
    assert outcome.code == 0, outcome.stdout
    assert outcome.stdout == ""


@pytest.mark.parametrize("token", ["", "  "])
def test_the_cli_in_actions_without_a_token_refuses_too(token: str, runner: Runner) -> None:
    """Someone running ci-collector from their own step gets the same guard."""
    outcome = runner.run("collect", TRUNK_API_TOKEN=token)
    assert outcome.code == 2
    (line,) = outcome.stderr.splitlines()
    assert line.startswith("::error title=ci-collector::")
    assert "trunk-token" in line and "TRUNK_API_TOKEN" in line
    assert runner.github.server.requests == []
    assert "ci-collector failed (exit 2)" in outcome.summary
    assert outcome.outputs == ""


def test_events_counts_what_trunk_accepted(runner: Runner) -> None:
    outcome = runner.run("collect")
    assert outcome.code == 0, outcome.stderr
    accepted = len(runner.trunk.events)
    assert accepted > 0
    assert outcome.outputs == f"events={accepted}\n"
    assert "### ci-collector" in outcome.summary
    assert f"sent {accepted} events of 1 runs" in outcome.summary


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Reply(401, b'{"error":"unauthorized"}'), 1),
        (Reply(503, b"busy"), 75),
        (Reply(400, b'{"error":"bad"}'), 1),
    ],
)
def test_events_is_0_when_trunk_accepted_nothing(fault: Reply, code: int, runner: Runner) -> None:
    runner.trunk.faults = [fault] * 50
    outcome = runner.run("collect", CI_COLLECTOR_RETRY_SECONDS="0.5")
    assert outcome.code in (code, 1, 2), outcome.stderr
    assert outcome.code != 0
    assert runner.trunk.events == {}
    assert outcome.outputs == "events=0\n"
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("::error")]
    assert errors, outcome.stderr
    assert "ci-collector failed" in outcome.summary or "refused by Trunk" in outcome.summary


def test_a_dry_run_counts_written_events(runner: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    outcome = runner.run("collect", TRUNK_API_TOKEN="", INPUT_OUTPUT=str(out))
    assert outcome.code == 0, outcome.stderr
    written = sum(line.count('"id"') for line in out.read_text().splitlines())
    assert written > 0
    assert outcome.outputs.startswith("events=")
    assert runner.trunk.posts == 0
