"""``action.yml``: inputs reach the shell only through ``env:``, and its script really runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.servers.github import running_github
from tests.sources.github import scenarios as sc
from tests.sources.github.chains import chains

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _steps() -> list[dict[str, Any]]:
    steps = ACTION["runs"]["steps"]
    assert ACTION["runs"]["using"] == "composite"
    return list(steps)


def test_no_expression_inside_any_run_block() -> None:
    runs = [step["run"] for step in _steps() if "run" in step]
    assert len(runs) == 4  # check inputs, pip cache key, install, collect
    for script in runs:
        assert "${{" not in script


def test_every_input_reaches_the_shell_through_env() -> None:
    env_values = " ".join(
        str(value) for step in _steps() for value in (step.get("env") or {}).values()
    )
    for name in ACTION["inputs"]:
        assert f"inputs.{name}" in env_values, name
    assert set(ACTION["inputs"]) == {
        "trunk-token",
        "github-token",
        "run-id",
        "repo",
        "trunk-url",
        "output",
        "otlp-endpoint",
        "otlp-headers",
    }
    assert ACTION["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert ACTION["outputs"]["events"]["value"] == "${{ steps.collect.outputs.events }}"


def test_collect_script_sends_the_triggering_attempt(tmp_path: Path) -> None:
    """Runs the step's bash script as a workflow_run-triggered job would."""
    step = next(s for s in _steps() if s.get("id") == "collect")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "ci-collector"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ci_collector "$@"\n')
    launcher.chmod(0o755)
    out, outputs = tmp_path / "out.jsonl", tmp_path / "github_output"
    with running_github(sc.catalogue()) as server:
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT / "src"),
            "HOME": str(tmp_path),
            "GITHUB_API_URL": server.url,
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_RUN_ID": "1",
            "GITHUB_REPOSITORY": "acme/ci",
            "GITHUB_TOKEN": "ghp_action-test-token-0000",
            "TRUNK_API_TOKEN": "",
            "TRUNK_API_URL": "https://api.trunk.io",
            "INPUT_RUN_ID": "",
            "INPUT_REPO": "",
            "INPUT_OUTPUT": str(out),
            "TRIGGER_RUN_ID": str(sc.RERUN_RUN),
            "TRIGGER_RUN_ATTEMPT": "2",
            "TRIGGER_REPO": f"{sc.OWNER}/{sc.NAME}",
        }
        result = subprocess.run(
            ["bash", "-c", step["run"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)["events"]]
    assert list(chains(events)) == [(sc.RERUN_RUN, 2)]
    assert outputs.read_text() == f"events={len(events)}\n"
