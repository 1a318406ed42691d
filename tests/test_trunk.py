"""The contract models: what Trunk's trackEvents accepts, and how problems are named."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.sinks.base import encode
from ci_collector.trunk_contract import TrackEventsBody, body_problems
from tests.runs import REPO, make_run


def good_body() -> dict[str, Any]:
    events = map_run(make_run(jobs=2, steps=2))
    return {"repo": {"host": REPO.host, "owner": REPO.owner, "name": REPO.name}, "events": events}


def problems_of(body: dict[str, Any]) -> list[str]:
    return body_problems(json.dumps(body))


def test_a_mapped_body_is_accepted() -> None:
    body = good_body()
    assert len(body["events"]) == 7
    assert problems_of(body) == []
    TrackEventsBody.model_validate(body)


def test_finished_before_created_names_the_event_and_field() -> None:
    body = good_body()
    body["events"][3]["finishedAt"] = body["events"][3]["createdAt"] - 1
    assert problems_of(body) == ["events[3].finishedAt: earlier than createdAt"]


def test_finished_equal_to_created_is_fine() -> None:
    body = good_body()
    body["events"][2]["finishedAt"] = body["events"][2]["createdAt"]
    assert problems_of(body) == []


@pytest.mark.parametrize("word", ["success", "FAILED", "ABORTED", "UNSTABLE", ""])
def test_conclusion_outside_the_enum(word: str) -> None:
    body = good_body()
    body["events"][1]["conclusion"] = word
    [problem] = problems_of(body)
    assert problem.startswith("events[1].conclusion: Input should be 'SUCCESS'")


@pytest.mark.parametrize(("length", "ok"), [(127, True), (128, False), (400, False)])
def test_sequence_key_must_be_shorter_than_128(length: int, ok: bool) -> None:
    body = good_body()
    body["events"][0]["sequence"]["key"] = "k" * length
    problems = problems_of(body)
    if ok:
        assert problems == []
    else:
        message = f"{length} characters; must be shorter than 128"
        assert problems == [f"events[0].sequence.key: {message}"]


@pytest.mark.parametrize("value", ["12", True, False, None, [1], {"v": 1}])
def test_metric_value_must_be_a_number(value: object) -> None:
    body = good_body()
    body["events"][2]["payload"]["metrics"][0]["v"] = value
    problems = problems_of(body)
    assert problems, f"{value!r} was accepted as a metric value"
    assert all(p.startswith("events[2].payload.metrics[0].v:") for p in problems), problems


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_metric_value_must_be_finite(value: float) -> None:
    """NaN/Infinity are not JSON numbers: Python would write them, Trunk would refuse them."""
    body = good_body()
    body["events"][2]["payload"]["metrics"][0]["v"] = value
    problems = problems_of(body)
    assert problems, f"{value!r} was accepted as a metric value"
    assert all(p.startswith("events[2].payload.metrics[0].v:") for p in problems), problems


@pytest.mark.parametrize("value", [1.5, 0, -3])
def test_metric_value_numbers_are_accepted(value: float) -> None:
    body = good_body()
    body["events"][2]["payload"]["metrics"][0]["v"] = value
    assert problems_of(body) == []


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_tag_value_must_be_string_or_number(value: object) -> None:
    body = good_body()
    body["events"][0]["payload"]["tags"][0]["v"] = value
    problems = problems_of(body)
    assert problems, f"{value!r} was accepted as a tag value"
    assert all(p.startswith("events[0].payload.tags[0].v:") for p in problems), problems


@pytest.mark.parametrize("value", ["main", 3, 2.5])
def test_tag_value_strings_and_numbers_are_accepted(value: object) -> None:
    body = good_body()
    body["events"][0]["payload"]["tags"][0]["v"] = value
    assert problems_of(body) == []


@pytest.mark.parametrize("platform", ["Jenkins", "GitHub Actions", "github-actions", "_x", "9x"])
def test_platform_must_be_snake_case(platform: str) -> None:
    body = good_body()
    body["events"][4]["sequence"]["platform"] = platform
    assert problems_of(body) == [f"events[4].sequence.platform: {platform!r} is not snake_case"]


@pytest.mark.parametrize(
    "path", [("parent",), ("conclusion",), ("payload",), ("sequence", "payload")]
)
def test_null_fields_are_refused(path: tuple[str, ...]) -> None:
    body = good_body()
    target = body["events"][1]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = None
    assert f"events[1].{'.'.join(path)}: null (omit absent fields instead)" in problems_of(body)


def test_unknown_fields_and_missing_fields_are_named() -> None:
    body = good_body()
    body["events"][0]["colour"] = "red"
    del body["events"][1]["sequence"]["key"]
    problems = problems_of(body)
    assert "events[0].colour: Extra inputs are not permitted" in problems
    assert "events[1].sequence.key: Field required" in problems


def test_a_parent_must_carry_a_sequence_key_not_a_chain_id() -> None:
    """The published example's mistake: ``parent: {eventId, chainId}``."""
    body = good_body()
    parent = body["events"][1]["parent"]
    parent["chainId"] = parent.pop("sequenceKey")
    problems = problems_of(body)
    assert "events[1].parent.sequenceKey: Field required" in problems
    assert "events[1].parent.chainId: Extra inputs are not permitted" in problems


def test_body_needs_events_and_json() -> None:
    body = good_body()
    body["events"] = []
    assert problems_of(body) == ["events: List should have at least 1 item after validation, not 0"]
    assert body_problems(b"{not json")[0].startswith("body: not JSON")


def test_negative_and_float_times_are_refused() -> None:
    body = good_body()
    body["events"][0]["createdAt"] = -1
    body["events"][1]["createdAt"] = float(body["events"][1]["createdAt"])
    problems = problems_of(body)
    assert any(p.startswith("events[0].createdAt:") for p in problems)
    assert any(p.startswith("events[1].createdAt:") for p in problems)


def test_serialising_omits_absent_fields() -> None:
    """The root has no parent: no ``null``. A node without a platform conclusion still
    gets one (it finished with its run): never a missing or null conclusion."""
    run = make_run()
    run.root.children[0].conclusion = None
    events = map_run(run)
    raw = encode({"repo": {"host": "h", "owner": "o", "name": "n"}, "events": events})
    assert b"null" not in raw
    decoded = json.loads(raw)
    assert "parent" not in decoded["events"][0]
    assert decoded["events"][1]["conclusion"] == "CANCELLED"  # it had started
    assert "conclusion" in decoded["events"][2]
    # and the model's own serialisation agrees
    model = TrackEventsBody.model_validate(decoded)
    dumped = model.model_dump(exclude_none=True)
    assert "parent" not in dumped["events"][0]
    assert copy.deepcopy(dumped["events"][2]["parent"]) == decoded["events"][2]["parent"]
