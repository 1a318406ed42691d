"""`validate_lines` and ``ci-collector validate``: the contract plus the chain invariants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import ExternalParent, Run
from ci_collector.trunk import EventDict
from ci_collector.validate import validate_lines
from tests.conftest import run_cli
from tests.runs import REPO, make_run

REPO_DICT = {"host": REPO.host, "owner": REPO.owner, "name": REPO.name}


def line(events: list[Any]) -> str:
    return json.dumps({"repo": REPO_DICT, "events": events})


def chain(run_id: int = 1) -> list[EventDict]:
    """root, job, step, step; a copy that shares nothing (siblings share a parent dict)."""
    return json.loads(json.dumps(map_run(make_run(run_id, jobs=1, steps=2))))


def errors_of(*lines: str) -> list[str]:
    return validate_lines(lines).errors


def test_a_correct_file_has_no_problems() -> None:
    first, second = chain(1), chain(2)
    report = validate_lines([line(first[:2]), "", line(first[2:] + second)])
    assert (report.errors, report.warnings) == ([], [])
    assert (report.bodies, report.events) == (2, 8)


def test_a_child_finishing_before_it_starts() -> None:
    events: list[Any] = chain()
    events[2]["finishedAt"] = events[2]["createdAt"] - 1_000
    assert errors_of(line(events)) == ["line 1: events[2].finishedAt: earlier than createdAt"]


def test_a_parent_outside_the_file_is_a_warning() -> None:
    report = validate_lines([line(chain()[1:])])
    assert report.errors == []
    [warning] = report.warnings
    assert warning.startswith("line 1: events[0].parent.eventId: ")
    assert "is not in this file" in warning


def test_a_parent_sent_after_its_child() -> None:
    root, job, *steps = chain()
    assert errors_of(line([job, *steps]), line([root])) == [
        "line 1: events[0].parent.eventId: sent before its parent (line 2: events[0])"
    ]


def test_a_parent_later_in_the_same_body() -> None:
    root, job, first, second = chain()
    assert errors_of(line([root, first, job, second])) == [
        "line 1: events[1].parent.eventId: sent before its parent (line 1: events[2])"
    ]


def test_a_parent_sequence_key_that_does_not_match() -> None:
    events: list[Any] = chain()
    events[3]["parent"]["sequenceKey"] = "ci.yml/somewhere else"
    [error] = errors_of(line(events))
    assert error.startswith("line 1: events[3].parent.sequenceKey: 'ci.yml/somewhere else'")
    assert error.endswith(f"the parent's sequence key is {events[1]['sequence']['key']!r}")


def test_a_second_root_in_a_chain() -> None:
    events: list[Any] = chain()
    stray = copy.deepcopy(events[2])
    del stray["parent"]  # a step that lost its parent: a second parentless event
    stray["id"] = "7a0c6a55-5d43-5a3e-9a51-2f8f8a9e0001"
    assert errors_of(line(events), line([stray])) == [
        f"line 2: events[0]: second root of chain {events[0]['id']} (line 1: events[0])"
    ]


def test_a_root_sent_twice_with_other_content_is_an_error() -> None:
    events: list[Any] = chain()
    again = json.loads(json.dumps(events[:1]))
    again[0]["finishedAt"] += 1
    assert errors_of(line(events), line(again)) == [
        f"line 2: events[0].id: {events[0]['id']} already sent at line 1: events[0] "
        "with other content"
    ]


def test_a_root_resent_unchanged_is_only_a_warning() -> None:
    events: list[Any] = chain()
    report = validate_lines([line(events), line(events[:1])])
    assert report.errors == []
    assert report.warnings == [
        f"line 2: events[0].id: {events[0]['id']} sent again (same as line 1: events[0])"
    ]


def test_a_root_whose_chain_id_is_not_its_own() -> None:
    events: list[Any] = chain()
    for event in events:
        event["chainId"] = "00000000-0000-5000-8000-000000000000"
    errors = errors_of(line(events))
    assert errors == ["line 1: events[0].chainId: a root's chainId must be its own id"]


def test_a_child_in_another_chain_than_its_parent() -> None:
    events: list[Any] = chain()
    events[1]["chainId"] = chain(2)[0]["id"]
    errors = errors_of(line(events))
    assert errors[0] == (
        f"line 1: events[1].chainId: {events[1]['chainId']} differs from its parent's chain "
        f"{events[0]['id']}"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sequence", {"platform": "x", "kind": "step", "key": "other", "name": "n"}),
        ("createdAt", 1_700_000_000_001),
        ("conclusion", "FAILURE"),
    ],
)
def test_duplicate_ids_with_different_content(field: str, value: Any) -> None:
    events: list[Any] = chain()
    twin = json.loads(json.dumps(events[3]))
    twin[field] = value
    assert errors_of(line(events), line([twin])) == [
        f"line 2: events[0].id: {events[3]['id']} already sent at line 1: events[3] "
        "with other content"
    ]


def test_a_line_that_is_not_json() -> None:
    errors = errors_of(line(chain()), '{"repo": ', "[]")
    assert errors[0].startswith("line 2: body: not JSON")
    assert errors[1].startswith("line 3: body: Input should be a valid dictionary")
    assert len(errors) == 2


# ---- the command ---------------------------------------------------------------------


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "bodies.jsonl"
    path.write_text("".join(text + "\n" for text in lines))
    return path


def test_cli_accepts_a_correct_file(tmp_path: Path) -> None:
    result = run_cli("validate", str(write(tmp_path, line(chain(1)), line(chain(2)))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == "valid: 2 bodies, 8 events, 0 errors, 0 warnings\n"


def test_cli_names_the_event_whose_finish_precedes_its_start(tmp_path: Path) -> None:
    events: list[Any] = chain()
    events[3]["finishedAt"] = events[3]["createdAt"] - 1
    result = run_cli("validate", str(write(tmp_path, line(chain(2)), line(events))))
    assert result.returncode == 1
    assert result.stdout == "line 2: events[3].finishedAt: earlier than createdAt\n"
    assert result.stderr.startswith("invalid: 2 bodies")


def test_cli_prints_every_problem_and_warnings_on_stderr(tmp_path: Path) -> None:
    events: list[Any] = chain()
    events[0]["sequence"]["platform"] = "Jenkins"
    events[1]["conclusion"] = "UNSTABLE"
    orphan = chain(2)[1:]
    result = run_cli("validate", str(write(tmp_path, line(events), line(orphan), "nope")))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "line 1: events[0].sequence.platform: 'Jenkins' is not snake_case"
    assert lines[1].startswith("line 1: events[1].conclusion: ")
    assert lines[2].startswith("line 3: body: not JSON")
    assert "warning: line 2: events[0].parent.eventId" in result.stderr


@pytest.mark.parametrize("args", [["validate"], ["validate", "/no/such/file.jsonl"]])
def test_cli_usage_errors(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("ci-collector: error: ")
    assert "Traceback" not in result.stderr


# ---- what Trunk checks, validate checks -------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 3])
def test_a_missing_conclusion_is_an_error(index: int) -> None:
    events: list[Any] = chain()
    del events[index]["conclusion"]
    assert errors_of(line(events)) == [
        f"line 1: events[{index}].conclusion: missing (every event needs one of "
        "SUCCESS, FAILURE, CANCELLED, TIMED_OUT, SKIPPED)"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("finishedAt", 253_402_300_799_000),  # 9999-12-31
        ("createdAt", 915_148_800_000),  # 1999-01-01
        ("createdAt", 0),
        ("finishedAt", 4_102_444_800_000),  # 2100-01-01
    ],
)
def test_an_implausible_time_is_an_error(field: str, value: int) -> None:
    events: list[Any] = chain()
    events[0][field] = value
    if field == "createdAt":
        events[0]["finishedAt"] = max(events[0]["finishedAt"], value)
    errors = errors_of(line(events))
    assert f"line 1: events[0].{field}: {value} is not a plausible time" in "\n".join(errors)


def downstream(upstream_run: Run) -> list[Any]:
    """A downstream build as the mapper emits it: its own key, under another build's root."""
    run = make_run(7, jobs=1, steps=2)
    run.root.key_part = "deploy"
    key = upstream_run.root.key_part
    run.external_parent = ExternalParent(upstream_run.natural_key, key, upstream_run.natural_key)
    return json.loads(json.dumps(map_run(run)))


@pytest.mark.parametrize("order", ["upstream first", "downstream first", "upstream absent"])
def test_a_parent_of_another_build_is_a_warning_in_any_position(order: str) -> None:
    upstream_run = make_run(1, jobs=1, steps=2)
    upstream: list[Any] = json.loads(json.dumps(map_run(upstream_run)))
    below = downstream(upstream_run)
    lines = {
        "upstream first": [line(upstream), line(below)],
        "downstream first": [line(below), line(upstream)],
        "upstream absent": [line(below)],
    }[order]
    report = validate_lines(lines)
    assert report.errors == []
    if order == "upstream first":
        assert report.warnings == []
    else:
        assert len(report.warnings) == 1 and "parent.eventId" in report.warnings[0]


def test_a_parent_of_the_same_build_sent_after_its_child_is_still_an_error() -> None:
    events: list[Any] = chain()
    errors = errors_of(line([events[0], events[2], events[1], events[3]]))
    assert errors and "sent before its parent" in errors[0]
