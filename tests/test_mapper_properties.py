"""Properties of the mapper over arbitrary run trees (hypothesis).

Trees have missing, zero, negative and out-of-order times, long, unicode and duplicate
names (with ``/`` and ``#`` in them), and deep nesting. Whatever comes in, what goes out
must be a chain Trunk accepts, the same every time.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_collector.mapper import (
    EVENT_NAMESPACE,
    MappingError,
    event_id,
    map_run,
    plausible_window,
)
from ci_collector.model import Conclusion, Node, Repo, Run
from ci_collector.trunk import (
    MAX_SEQUENCE_KEY,
    PLAUSIBLE_FROM_MS,
    PLAUSIBLE_UNTIL_MS,
    EventDict,
)
from ci_collector.trunk_contract import TrackEventsBody, body_problems

REPO = Repo("github.com", "acme", "widgets")
T0 = 1_700_000_000_000

times = st.one_of(
    st.none(),
    st.just(0),
    st.integers(-5, -1),
    st.integers(T0 - 10_000_000, T0 + 10_000_000),  # dense: lots of overlaps and inversions
    st.integers(1, 2**42),
)
names = st.one_of(
    st.sampled_from(["build", "test", "checkout", "checkout #2", "a/b", "a", "b", " ", ""]),
    st.text(min_size=0, max_size=20),
    st.text(min_size=100, max_size=300),
)
key_parts = st.one_of(
    st.sampled_from(["a", "b", "a #2", "a/b", "b #2"]),  # collisions across levels and siblings
    names,
)
metric_values = st.one_of(
    st.integers(-1_000, 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
kinds = st.sampled_from(["workflow", "job", "step", "pipeline", "stage", "branch"])


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0) -> Node:
    children: list[Node] = []
    if depth < 8:
        count = draw(st.integers(0, 3 if depth < 2 else 1))
        children = [draw(nodes(depth + 1)) for _ in range(count)]
    for index, child in enumerate(children):
        child.id_part = f"{child.kind}s/{index}"  # collectors guarantee unique sibling id parts
    return Node(
        kind=draw(kinds),
        name=draw(names),
        id_part="",
        key_part=draw(key_parts),
        started_ms=draw(times),
        finished_ms=draw(times),
        conclusion=draw(st.none() | st.sampled_from(Conclusion)),
        result=draw(st.none() | st.sampled_from(["success", "UNSTABLE", "ABORTED"])),
        tags=draw(
            st.dictionaries(
                st.sampled_from(["branch", "sha", "runner", "attempt"]),
                st.text(max_size=10) | st.integers(0, 9),
                max_size=3,
            )
        ),
        metrics=draw(
            st.dictionaries(
                st.sampled_from(["queue_ms", "init_ms", "retries"]), metric_values, max_size=3
            )
        ),
        children=children,
    )


@st.composite
def runs(draw: st.DrawFn) -> Run:
    root = draw(nodes())
    number = draw(st.integers(1, 10**9))
    platform = draw(st.sampled_from(["github_actions", "jenkins", "circleci"]))
    return Run(platform, REPO, f"{REPO.slug}/runs/{number}/attempts/1", root)


def all_nodes(node: Node) -> list[Node]:
    return [node, *(n for child in node.children for n in all_nodes(child))]


def has_any_time(run: Run) -> bool:
    """A time the mapper can use: a plausible one (2005..2099, see `plausible_window`)."""
    return any(
        value is not None and PLAUSIBLE_FROM_MS <= value < PLAUSIBLE_UNTIL_MS
        for node in all_nodes(run.root)
        for value in (node.started_ms, node.finished_ms)
    )


def mapped(run: Run) -> list[EventDict] | None:
    try:
        return map_run(run)
    except MappingError:
        assert not has_any_time(run), "MappingError although the tree has a usable time"
        return None


PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow  # 200 arbitrary trees, up to 8 deep: about 20 s
@PROPERTIES
@given(runs())
def test_any_run_tree_maps_to_a_chain_trunk_accepts(run: Run) -> None:
    events = mapped(run)
    if events is None:
        return
    assert json.dumps(map_run(run)) == json.dumps(events), "not byte-identical on a second call"
    check_contract(events)
    check_ids(run, events)
    check_parents(events)
    check_keys(events)
    check_times(run, events)


@settings(max_examples=20, deadline=None)
@given(st.integers(20, 60), names, times, times)
def test_deep_nesting(depth: int, name: str, start: int | None, finish: int | None) -> None:
    node = Node("stage", name, "", name, start, finish)
    for level in range(depth):
        node = Node("stage", name, "", name, T0 + level, T0 + 2 * depth - level, children=[node])
        node.children[0].id_part = f"stages/{level}"
    run = Run("jenkins", REPO, "ci.example/job/deep/1", node)
    events = map_run(run)
    assert len(events) == depth + 1
    check_contract(events)
    check_parents(events)
    check_keys(events)
    check_times(run, events)


def check_contract(events: list[EventDict]) -> None:
    body: dict[str, Any] = {
        "repo": {"host": REPO.host, "owner": REPO.owner, "name": REPO.name},
        "events": events,
    }
    TrackEventsBody.model_validate(json.loads(json.dumps(body)))
    assert body_problems(json.dumps(body)) == []  # the contract, plus no null anywhere


def check_ids(run: Run, events: list[EventDict]) -> None:
    ids = [event["id"] for event in events]
    assert len(ids) == len(all_nodes(run.root))
    assert len(set(ids)) == len(ids)
    assert ids[0] == event_id(run.natural_key)
    assert {event["chainId"] for event in events} == {ids[0]}


def check_parents(events: list[EventDict]) -> None:
    assert "parent" not in events[0]
    keys_so_far: dict[str, str] = {}
    for event in events:
        if "parent" in event:
            parent = event["parent"]
            assert parent["eventId"] in keys_so_far, "child before its parent"
            assert parent["sequenceKey"] == keys_so_far[parent["eventId"]]
        keys_so_far[event["id"]] = event["sequence"]["key"]
    assert all("parent" in event for event in events[1:])


def check_keys(events: list[EventDict]) -> None:
    keys = [event["sequence"]["key"] for event in events]
    assert all(0 < len(key) <= MAX_SEQUENCE_KEY for key in keys)
    assert len(set(keys)) == len(keys), "two nodes of one run share a sequence key"


def check_times(run: Run, events: list[EventDict]) -> None:
    spans = {event["id"]: (event["createdAt"], event["finishedAt"]) for event in events}
    for event in events:
        start, finish = spans[event["id"]]
        assert PLAUSIBLE_FROM_MS <= start <= finish < PLAUSIBLE_UNTIL_MS
        if "parent" in event:
            low, high = spans[event["parent"]["eventId"]]
            assert low <= start <= finish <= high, "child outside its parent"
        duration = next(m["v"] for m in event["payload"]["metrics"] if m["k"] == "duration_ms")
        assert duration == finish - start
    # a root with good times is sent as it came, unflagged
    root, first = run.root, events[0]
    low, high = plausible_window(root)
    if root.started_ms and root.finished_ms and low <= root.started_ms <= root.finished_ms < high:
        assert (first["createdAt"], first["finishedAt"]) == (root.started_ms, root.finished_ms)
        assert {"k": "timestamps_repaired", "v": "true"} not in first["payload"]["tags"]


@given(st.text())
def test_event_ids_are_exactly_uuid5(key: str) -> None:
    """`event_id` builds the UUID by hand for speed; it must equal the standard library's."""
    assert event_id(key) == str(uuid.uuid5(EVENT_NAMESPACE, key))
