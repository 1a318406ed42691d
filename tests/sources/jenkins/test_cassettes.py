"""Replays of recorded Jenkins traffic (cassettes/jenkins/): no server, same answers.

The cassettes hold the exact request sequence, so replaying them also pins how many
requests each build costs; re-record with ``python -m tests.sources.jenkins.record_cassettes``.
"""

from __future__ import annotations

from collections import Counter

import pytest
import vcr

from ci_collector.mapper import map_run
from ci_collector.model import Repo, Run
from ci_collector.pipeline import SkipPolicy
from ci_collector.sources.jenkins.client import JenkinsClient
from ci_collector.sources.jenkins.source import JenkinsCollector, JenkinsOptions
from ci_collector.state import State
from tests.conftest import CASSETTES
from tests.sources.jenkins.record_cassettes import CASES, TOKEN, URL, USER
from tests.sources.jenkins.scenarios import APP, DEPLOY, INTEGRATION, SENT_BUILDS, WIDGETS_PR

FOLDER = CASSETTES / "jenkins"


def replay(name: str) -> tuple[dict[str, Run], SkipPolicy, int, Counter[str]]:
    player = vcr.VCR(record_mode="none", filter_headers=["authorization"])
    with player.use_cassette(str(FOLDER / f"{name}.yaml")) as cassette:
        client = JenkinsClient(URL, USER, TOKEN, timeout=5)
        skip = SkipPolicy()
        runs = {
            r.natural_key.split("/", 1)[1]: r
            for r in JenkinsCollector(client, JenkinsOptions(jobs=CASES[name]))(
                State(":memory:"), skip
            )
        }
        assert cassette.all_played
        paths = Counter(_kind(request.path) for request in cassette.requests)
        return runs, skip, client.requests, paths


def _kind(path: str) -> str:
    if path.startswith("/crumbIssuer"):
        return "crumb"
    if path.startswith("/blue/"):
        return "blue"
    if path.endswith("/wfapi/describe"):
        return "describe"
    return "list"


@pytest.mark.parametrize("name", sorted(CASES))
def test_cassettes_hold_no_credentials(name: str) -> None:
    text = (FOLDER / f"{name}.yaml").read_text(encoding="utf-8").lower()
    assert "authorization" not in text and "recording-token" not in text
    assert "crumbissuer/api/json" in text  # python-jenkins asks for a crumb first


def test_freestyle_replay_is_one_list_request() -> None:
    runs, _, requests, kinds = replay("freestyle")
    assert list(runs) == [f"{DEPLOY}/1"]
    assert kinds == {"crumb": 1, "list": 1} and requests == 2
    assert runs[f"{DEPLOY}/1"].repo == Repo("github.com", "acme", "deploy-tools")


def test_pipeline_replay_covers_every_stage_case() -> None:
    runs, skip, requests, kinds = replay("pipeline")
    # 6 checked out a GitHub Enterprise remote, 7 is running, 8 was deleted
    assert sorted(runs) == [f"{APP}/{n}" for n in range(1, 6)]
    assert skip.skipped == [
        f"skipped {APP} #8: deleted since it was listed",
        f"skipped {APP} #6: its repository github.example.com/acme/app is not on github.com, "
        "the only host Trunk accepts; map the job to its GitHub mirror with --repo-map, "
        "or use --repo",
    ]
    assert kinds == {"crumb": 1, "list": 1, "describe": 6, "blue": 1}
    results = {
        next(t["v"] for t in e["payload"]["tags"] if t["k"] == "result")
        for n in (2, 3, 4)
        for e in map_run(runs[f"{APP}/{n}"])[1:]
    }
    assert results == {"UNSTABLE", "ABORTED", "NOT_EXECUTED", "SUCCESS"}
    parallel = [
        e["sequence"]["key"]
        for e in map_run(runs[f"{APP}/5"])
        if e["sequence"]["kind"] == "parallel"
    ]
    assert parallel == [f"{APP}/Tests/linux", f"{APP}/Tests/windows"]
    assert requests == 9


def test_discovery_replay_finds_multibranch_and_downstream() -> None:
    runs, _, requests, kinds = replay("discovery")
    assert len(runs) == SENT_BUILDS - 1  # team/app #6 is a GitHub Enterprise build
    assert f"{WIDGETS_PR}/1" in runs
    downstream = runs[f"{INTEGRATION}/1"]
    assert downstream.external_parent is not None
    assert downstream.external_parent.sequence_key == APP
    assert kinds == {"crumb": 1, "list": 6, "describe": 8, "blue": 1}
    # crumb + discovery + 5 job lists + 7 Pipeline describes (+1 deleted) + 1 graph
    assert requests == 16


def test_cassette_folder_exists() -> None:
    assert sorted(p.stem for p in FOLDER.glob("*.yaml")) == sorted(CASES)
