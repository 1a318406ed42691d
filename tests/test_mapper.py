"""The mapper, case by case: ids, chains, parents, keys, time repair, tags and metrics."""

from __future__ import annotations

import uuid

import pytest

from ci_collector.mapper import (
    EVENT_NAMESPACE,
    REPAIRED_TAG,
    MappingError,
    event_id,
    fit_sequence_key,
    map_run,
)
from ci_collector.model import Conclusion, ExternalParent, Node, Run
from ci_collector.trunk import MAX_SEQUENCE_KEY, EventDict
from tests.runs import REPO, T0, make_run

ROOT_KEY = ".github/workflows/ci.yml"


def tags(event: EventDict) -> dict[str, object]:
    return {tag["k"]: tag["v"] for tag in event["payload"]["tags"]}


def metrics(event: EventDict) -> dict[str, object]:
    return {metric["k"]: metric["v"] for metric in event["payload"]["metrics"]}


def one_node_run(root: Node, natural_key: str = "ci.example/job/1") -> Run:
    return Run("jenkins", REPO, natural_key, root)


def test_ids_are_uuid5_of_the_natural_key() -> None:
    run = make_run(run_id=42)
    events = map_run(run)
    base = "github.com/acme/widgets/actions/runs/42/attempts/1"
    assert [e["id"] for e in events] == [
        str(uuid.uuid5(EVENT_NAMESPACE, key))
        for key in (base, f"{base}/jobs/1", f"{base}/jobs/1/steps/1", f"{base}/jobs/1/steps/2")
    ]
    assert all(uuid.UUID(e["id"]).version == 5 for e in events)


def test_the_id_namespace_never_changes() -> None:
    """Changing the namespace would re-identify every event ever sent: pin one value."""
    assert event_id("github.com/o/r/actions/runs/1/attempts/1") == (
        "72653dde-23f6-5c8f-85d6-19495f127559"
    )


def test_chain_id_is_the_root_id_and_parents_enclose() -> None:
    events = map_run(make_run(jobs=2, steps=2))
    root, job1, step11, step12, job2, step21, step22 = events
    assert {e["chainId"] for e in events} == {root["id"]}
    assert "parent" not in root
    for child, parent in [
        (job1, root),
        (step11, job1),
        (step12, job1),
        (job2, root),
        (step21, job2),
        (step22, job2),
    ]:
        assert child["parent"] == {
            "eventId": parent["id"],
            "sequenceKey": parent["sequence"]["key"],
        }


def test_sequence_keys_are_readable_paths() -> None:
    events = map_run(make_run(jobs=1, steps=2))
    assert [e["sequence"]["key"] for e in events] == [
        ROOT_KEY,
        f"{ROOT_KEY}/job 1",
        f"{ROOT_KEY}/job 1/step 1",
        f"{ROOT_KEY}/job 1/step 2",
    ]
    assert [e["sequence"]["kind"] for e in events] == ["workflow", "job", "step", "step"]
    assert {e["sequence"]["platform"] for e in events} == {"github_actions"}
    assert events[1]["sequence"]["name"] == "job 1"


def test_keys_stay_the_same_across_runs_while_ids_differ() -> None:
    first, second = map_run(make_run(run_id=1)), map_run(make_run(run_id=2))
    assert [e["sequence"]["key"] for e in first] == [e["sequence"]["key"] for e in second]
    assert not {e["id"] for e in first} & {e["id"] for e in second}


def test_same_named_siblings_are_numbered() -> None:
    run = make_run(steps=3)
    for child in run.root.children[0].children:
        child.key_part = "checkout"
    keys = [e["sequence"]["key"] for e in map_run(run)][2:]
    prefix = f"{ROOT_KEY}/job 1/checkout"
    assert keys == [prefix, f"{prefix} #2", f"{prefix} #3"]


def test_numbering_never_collides_with_a_sibling_named_like_a_number() -> None:
    run = make_run(steps=3)
    for child, name in zip(run.root.children[0].children, ["a", "a", "a #2"], strict=True):
        child.key_part = name
    keys = [e["sequence"]["key"] for e in map_run(run)]
    assert len(set(keys)) == len(keys), keys


def test_key_parts_lose_newlines_and_blank_ones_use_the_kind() -> None:
    run = make_run(steps=2)
    steps = run.root.children[0].children
    steps[0].key_part, steps[1].key_part = "run\ntests ", "  "
    keys = [e["sequence"]["key"] for e in map_run(run)][2:]
    assert keys == [f"{ROOT_KEY}/job 1/run tests", f"{ROOT_KEY}/job 1/step"]


def test_no_two_nodes_of_a_run_share_a_key_even_with_slashes_in_names() -> None:
    """Job ``build/linux`` and job ``build`` with step ``linux`` are different sequences."""
    run = make_run(jobs=2, steps=1)
    slashed, plain = run.root.children
    slashed.key_part = "build/linux"
    plain.key_part = "build"
    plain.children[0].key_part = "linux"
    keys = [e["sequence"]["key"] for e in map_run(run)]
    assert len(set(keys)) == len(keys), keys


def test_long_keys_are_shortened_with_a_hash_and_stay_unique() -> None:
    head = "folder/" * 30
    first, second = fit_sequence_key(head + "job-a"), fit_sequence_key(head + "job-b")
    assert len(first) == len(second) == MAX_SEQUENCE_KEY
    assert first != second
    assert first.startswith("folder/folder/")
    assert first[-13] == "~"
    assert fit_sequence_key(head + "job-a") == first  # stable
    exact = "k" * MAX_SEQUENCE_KEY
    assert fit_sequence_key(exact) == exact


def test_long_names_in_a_tree_give_short_unique_keys_and_matching_parents() -> None:
    run = make_run(jobs=1, steps=3)
    long_name = "a very long step name " * 10
    job = run.root.children[0]
    job.key_part = "j" * 200
    for index, child in enumerate(job.children):
        child.key_part = long_name + str(index)
    events = map_run(run)
    keys = [e["sequence"]["key"] for e in events]
    assert all(len(key) <= MAX_SEQUENCE_KEY for key in keys)
    assert len(set(keys)) == len(keys)
    assert all(e["parent"]["sequenceKey"] == keys[1] for e in events[2:])


def test_missing_and_zero_times_are_repaired_and_flagged() -> None:
    run = make_run(steps=3)
    steps = run.root.children[0].children
    steps[0].started_ms = None
    steps[1].finished_ms = 0
    steps[2].started_ms = steps[2].finished_ms = None
    events = map_run(run)
    root, job, first, second, third = events
    assert REPAIRED_TAG not in tags(root) and REPAIRED_TAG not in tags(job)
    for event in (first, second, third):
        assert tags(event)[REPAIRED_TAG] == "true"
        assert job["createdAt"] <= event["createdAt"] <= event["finishedAt"] <= job["finishedAt"]
    assert first["createdAt"] == first["finishedAt"] == T0 + 1_500  # borrowed its other end
    assert second["createdAt"] == second["finishedAt"] == T0 + 2_000
    assert third["createdAt"] == third["finishedAt"] == job["createdAt"]  # parent's start


def test_a_parent_without_times_borrows_its_childrens_span() -> None:
    run = make_run(steps=2)
    job = run.root.children[0]
    job.started_ms = job.finished_ms = None
    _, event, *_ = map_run(run)
    assert (event["createdAt"], event["finishedAt"]) == (T0 + 1_000, T0 + 2_500)
    assert tags(event)[REPAIRED_TAG] == "true"


def test_finish_before_start_is_repaired() -> None:
    root = Node("pipeline", "deploy", "", "deploy", T0 + 5_000, T0, Conclusion.SUCCESS)
    [event] = map_run(one_node_run(root))
    assert event["createdAt"] == event["finishedAt"] == T0 + 5_000
    assert tags(event)[REPAIRED_TAG] == "true"
    assert metrics(event)["duration_ms"] == 0


def test_children_are_clamped_inside_their_parent() -> None:
    early = Node("stage", "early", "stages/1", "early", T0 - 10_000, T0 + 1_000)
    late = Node("stage", "late", "stages/2", "late", T0 + 9_000, T0 + 50_000)
    outside = Node("stage", "outside", "stages/3", "outside", T0 + 80_000, T0 + 90_000)
    root = Node("pipeline", "p", "", "p", T0, T0 + 10_000, children=[early, late, outside])
    _, e, lt, out = map_run(one_node_run(root))
    assert (e["createdAt"], e["finishedAt"]) == (T0, T0 + 1_000)
    assert (lt["createdAt"], lt["finishedAt"]) == (T0 + 9_000, T0 + 10_000)
    assert (out["createdAt"], out["finishedAt"]) == (T0 + 10_000, T0 + 10_000)
    assert all(tags(event)[REPAIRED_TAG] == "true" for event in (e, lt, out))


def test_a_tree_without_any_time_cannot_be_mapped() -> None:
    child = Node("stage", "s", "stages/1", "s")
    root = Node("pipeline", "p", "", "p", 0, -5, children=[child])
    with pytest.raises(MappingError, match="no timestamps"):
        map_run(one_node_run(root))


def test_downstream_build_hangs_under_its_external_parent() -> None:
    upstream_key, top_key = "ci.example/job/deploy/7", "ci.example/job/release/2"
    upstream = ExternalParent(upstream_key, "deploy", top_key)
    child = Node("stage", "s", "stages/1", "s", T0, T0 + 1)
    root = Node("pipeline", "downstream", "", "folder/downstream", T0, T0 + 2, children=[child])
    run = Run("jenkins", REPO, "ci.example/job/folder/downstream/3", root, external_parent=upstream)
    first, second = map_run(run)
    assert first["id"] == event_id("ci.example/job/folder/downstream/3")
    assert first["chainId"] == second["chainId"] == event_id(top_key)
    assert first["parent"] == {"eventId": event_id(upstream_key), "sequenceKey": "deploy"}
    assert second["parent"]["eventId"] == first["id"]


def test_metrics_keep_numbers_and_drop_impossible_values() -> None:
    root = Node(
        "pipeline",
        "p",
        "",
        "p",
        T0,
        T0 + 4_000,
        metrics={
            "queue_ms": 250,
            "retries": -1,
            "wait_ms": -5,
            "cpu": float("nan"),
            "mem": float("inf"),
            "flag": True,
            "duration_ms": 99,
            "ratio": 0.5,
        },
    )
    [event] = map_run(one_node_run(root))
    assert metrics(event) == {"duration_ms": 4_000, "queue_ms": 250, "retries": -1, "ratio": 0.5}


def test_tags_carry_the_raw_result_and_drop_empty_values() -> None:
    root = Node(
        "pipeline",
        "p",
        "",
        "p",
        T0,
        T0 + 1,
        Conclusion.FAILURE,
        result="UNSTABLE",
        tags={"branch": "main", "pr": "", "attempt": 2},
    )
    [event] = map_run(one_node_run(root))
    assert event["conclusion"] == "FAILURE"
    assert event["payload"]["tags"] == [
        {"k": "branch", "v": "main"},
        {"k": "attempt", "v": 2},
        {"k": "result", "v": "UNSTABLE"},
    ]
    root.tags["result"] = "explicit"
    [again] = map_run(one_node_run(root))
    assert tags(again)["result"] == "explicit"
    assert [tag["k"] for tag in again["payload"]["tags"]].count("result") == 1


def test_a_node_without_name_is_named_by_its_key_or_kind() -> None:
    child = Node("stage", "", "stages/1", "", T0, T0 + 1)
    root = Node("pipeline", "", "", "folder/job", T0, T0 + 1, children=[child])
    first, second = map_run(one_node_run(root))
    assert first["sequence"]["name"] == "folder/job"
    assert second["sequence"]["name"] == "stage"


def test_mapping_does_not_change_the_run() -> None:
    run = make_run(jobs=2)
    run.root.children[0].started_ms = None
    before = repr(run)
    map_run(run)
    assert repr(run) == before


def test_a_blank_root_key_falls_back_to_the_kind() -> None:
    """An empty key would make Trunk refuse the whole batch it travels in."""
    root = Node("pipeline", "p", "", " \n", T0, T0 + 1)
    [event] = map_run(one_node_run(root))
    assert event["sequence"]["key"] == "pipeline"
