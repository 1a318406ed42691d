"""Every real Jenkins recording in ../shared/fixtures/jenkins/ maps without error, in place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Conclusion, Repo
from ci_collector.sources.jenkins.mapping import (
    BuildContext,
    app_checkout,
    causes,
    map_build,
    ran_in_parallel,
    stage_nodes,
    trigger_of,
)
from tests.conftest import SHARED_FIXTURES, recorded_names

FIXTURES = SHARED_FIXTURES / "jenkins"
pytestmark = pytest.mark.usefixtures("shared_recordings")
CONTEXT = BuildContext("ci.example", "folder/job", Repo("github.com", "o", "r"), "jenkins:x")
FALLBACK_BUILD = {
    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
    "number": 16,
    "result": "SUCCESS",
    "timestamp": 1413461275770,
    "duration": 10229,
    "url": "http://ci.example/job/Test%20Workflow/16/",
    "actions": [],
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def items(name: str) -> list[dict[str, Any]]:
    body = load(name)
    return [entry["data"] for entry in body] if isinstance(body, list) else [body]


BUILD_FILES = [
    *recorded_names("jenkins", "build_api_json_*.json"),
    "devlake_job_allBuilds_tree_items.json",
    "devlake_multibranch_allBuilds_tree_items.json",
]
DESCRIBE_FILES = [
    "wfapi_describe_jenkinsrest_paused_pending_input.json",
    "wfapi_run_describe_doc_paused_pending_input.json",
]
RUNS_FILES = recorded_names("jenkins", "wfapi_runs_*.json")
NODE_FILES = recorded_names("jenkins", "wfapi_node_describe_*.json")
BLUE_FILES = recorded_names("jenkins", "blueocean_run_nodes_*.json")


@pytest.mark.parametrize("name", BUILD_FILES)
def test_every_recorded_build_maps(name: str) -> None:
    for build in items(name):
        events = map_run(map_build(build, CONTEXT))
        root = events[0]
        assert root["sequence"]["key"] == "folder/job"
        assert root["finishedAt"] == build["timestamp"] + build["duration"]
        assert {"k": "run_number", "v": str(build["number"])} in root["payload"]["tags"]


@pytest.mark.parametrize("name", DESCRIBE_FILES + RUNS_FILES + NODE_FILES)
def test_every_recorded_stage_view_body_maps(name: str) -> None:
    body = load(name)
    runs = body if isinstance(body, list) else [body]
    for describe in runs:
        if "stages" not in describe:  # a node describe: one stage with its steps
            describe = {"stages": [describe]}
        events = map_run(map_build(FALLBACK_BUILD, CONTEXT, describe))
        assert len(events) == 1 + len(describe["stages"])
        for event in events[1:]:
            assert event["createdAt"] >= FALLBACK_BUILD["timestamp"]  # never 1970


@pytest.mark.parametrize(
    "name",
    [
        "devlake_wfapi_describe_stage_items.json",
        "devlake_multibranch_wfapi_describe_stage_items.json",
    ],
)
def test_devlake_stage_items_map(name: str) -> None:
    stages = items(name)
    nodes, _ = stage_nodes({"stages": stages}, None, "", name)
    assert [n.name for n in nodes] == [s["name"] for s in stages]
    words = {s.get("status") for s in stages}
    assert {n.result for n in nodes} == words - {None} | ({None} if None in words else set())


@pytest.mark.parametrize("name", BLUE_FILES)
def test_every_recorded_blue_ocean_graph_maps(name: str) -> None:
    nodes = load(name)
    events = map_run(map_build(FALLBACK_BUILD, CONTEXT, {"stages": []}, nodes))
    assert len(events) == 1 + len(nodes)
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)


def test_blue_ocean_fan_out_becomes_parallel_branches() -> None:
    nodes = load("blueocean_run_nodes_finished_multiple_failure.json")
    tree, _ = stage_nodes({"stages": []}, nodes, "", "x")
    stage_2 = next(n for n in tree if n.name == "Stage 2")
    assert [(c.kind, c.name) for c in stage_2.children] == [
        ("parallel", "firstBranch"),
        ("parallel", "secondBranch"),
        ("parallel", "thirdBranch"),
    ]
    assert [c.conclusion for c in stage_2.children] == [
        Conclusion.SUCCESS,
        Conclusion.FAILURE,
        Conclusion.FAILURE,
    ]


def test_not_executed_stages_are_skipped_and_repaired() -> None:
    describe = load("wfapi_runs_stageview_03_checkpoint_rerun.json")[0]
    build = {
        **FALLBACK_BUILD,
        "timestamp": describe["startTimeMillis"],
        "duration": describe["durationMillis"],
    }
    events = map_run(map_build(build, CONTEXT, describe))
    dev = next(e for e in events if e["sequence"]["name"] == "Dev")
    assert dev["conclusion"] == "SKIPPED"
    assert dev["createdAt"] == build["timestamp"]
    assert {"k": "timestamps_repaired", "v": "true"} in dev["payload"]["tags"]
    assert {"k": "result", "v": "NOT_EXECUTED"} in dev["payload"]["tags"]


def test_recorded_multibranch_build_finds_its_ssh_repository() -> None:
    build = items("devlake_multibranch_allBuilds_tree_items.json")[0]
    own = app_checkout(build)
    assert own is not None and own.repo == Repo("github.com", "gustavobini", "devlake-jenkins")


def test_recorded_causes_give_triggers() -> None:
    assert (
        trigger_of(causes(items("build_api_json_api4jenkins_workflowrun_replay_cause.json")[0]))
        == "replay"
    )
    assert (
        trigger_of(causes(items("build_api_json_freestyle_upstream_cause_tarungoel.json")[0]))
        == "upstream"
    )


def test_stage_view_bodies_without_overlap_need_no_graph() -> None:
    assert not ran_in_parallel(load("wfapi_runs_stageview_06_many_runs.json")[0])
    assert not ran_in_parallel(load("wfapi_describe_jenkinsrest_paused_pending_input.json"))
