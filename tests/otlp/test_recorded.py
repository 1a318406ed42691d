"""Every recorded GitHub, Jenkins and CircleCI run, through the OTLP sink, into a real receiver.

The receiver decodes with the official protobuf classes; each span is checked against
the Trunk event it came from: ids, parent, times (to the millisecond), kind, result.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ci_collector.mapper import event_id, map_run
from ci_collector.model import Run
from ci_collector.trunk import EventDict
from tests.otlp.helpers import make_sink, send
from tests.recorded_runs import circleci_runs, github_runs, jenkins_runs
from tests.servers.otlp import OtlpReceiver, running_receiver

RECORDED = {"github": github_runs, "jenkins": jenkins_runs, "circleci": circleci_runs}
MS = 1_000_000


@pytest.fixture
def receiver() -> OtlpReceiver:
    with running_receiver() as stand_in:
        yield stand_in  # type: ignore[misc]


def _ids(event: EventDict) -> tuple[bytes, bytes]:
    return uuid.UUID(event["chainId"]).bytes, uuid.UUID(event["id"]).bytes[:8]


def _attributes(span: Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in span.attributes:
        kind = item.value.WhichOneof("value")
        out[item.key] = getattr(item.value, kind) if kind else None
    return out


@pytest.mark.parametrize("platform", sorted(RECORDED))
def test_every_recorded_span_arrives_as_its_trunk_event(
    platform: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    runs: list[Run] = RECORDED[platform]()
    assert runs, f"no recorded {platform} runs"
    events = {_ids(e): e for run in runs for e in map_run(run)}
    roots = {_ids(map_run(run)[0]) for run in runs}
    # a Jenkins downstream build hangs under its upstream's span, in the upstream's trace
    outside = {_ids(map_run(run)[0]) for run in runs if run.external_parent is not None}

    delivered = send(make_sink(receiver, tmp_path, batch_spans=50), runs)

    assert sorted(delivered) == sorted(run.natural_key for run in runs)
    assert set(receiver.spans) == set(events)
    assert receiver.conflicts == []
    for span in receiver.all_spans():
        event = events[(span.trace_id, span.span_id)]
        assert span.start_time_unix_nano == event["createdAt"] * MS
        assert span.end_time_unix_nano == event["finishedAt"] * MS
        if "parent" in event:
            parent = uuid.UUID(event["parent"]["eventId"]).bytes[:8]
            assert span.parent_span_id == parent
            if (span.trace_id, span.span_id) not in outside:
                assert (span.trace_id, parent) in receiver.spans  # the parent arrived too
        else:
            assert span.parent_span_id == b""
        attributes = _attributes(span)
        assert attributes["ci_collector.event.id"] == event["id"]
        if (span.trace_id, span.span_id) in roots:
            assert span.kind == Span.SPAN_KIND_SERVER
            assert span.name == f"RUN {attributes['cicd.pipeline.name']}"
            assert "cicd.pipeline.run.id" in attributes
        else:
            assert span.kind == Span.SPAN_KIND_INTERNAL
            assert attributes["cicd.pipeline.task.name"] == event["sequence"]["name"]
            assert attributes["cicd.pipeline.task.run.id"]
        result = attributes.get(
            "cicd.pipeline.result", attributes.get("cicd.pipeline.task.run.result")
        )
        if event.get("conclusion") in ("FAILURE", "TIMED_OUT"):
            assert span.status.code == Status.STATUS_CODE_ERROR
            assert result in ("failure", "error", "timeout")
        else:
            assert span.status.code == Status.STATUS_CODE_UNSET
        if result in ("failure", "error"):
            assert attributes["error.type"]
        queue = next((m["v"] for m in event["payload"]["metrics"] if m["k"] == "queue_ms"), None)
        assert attributes.get("ci_collector.queue.duration_ms") == queue


@pytest.mark.parametrize("platform", ["github", "circleci"])
def test_a_rerun_links_to_the_attempt_it_reran(
    platform: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    runs = RECORDED[platform]()
    send(make_sink(receiver, tmp_path), runs)
    roots = {uuid.UUID(event_id(run.natural_key)).bytes: run for run in runs}
    linked = []
    for span in receiver.all_spans():
        for link in span.links:
            assert span.kind == Span.SPAN_KIND_SERVER
            previous = (link.trace_id, link.span_id)
            assert previous in receiver.spans  # the earlier attempt's root span
            assert link.trace_id != span.trace_id
            linked.append((roots[span.trace_id].root.tags.get("attempt"), previous))
    assert [attempt for attempt, _ in linked] == ["2"]


def test_github_outcomes_map_to_semconv_results(receiver: OtlpReceiver, tmp_path: Path) -> None:
    send(make_sink(receiver, tmp_path), github_runs())
    results = {}
    for span in receiver.all_spans():
        attributes = _attributes(span)
        if span.kind == Span.SPAN_KIND_SERVER:
            results[attributes["ci_collector.result"]] = (
                attributes["cicd.pipeline.result"],
                attributes.get("error.type"),
            )
    assert results["startup_failure"] == ("error", "startup_failure")
    assert results["failure"] == ("failure", "failure")
    assert results["success"] == ("success", None)


def test_jenkins_unstable_is_a_failure_with_the_raw_result(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    send(make_sink(receiver, tmp_path), jenkins_runs())
    raw = {}
    for span in receiver.all_spans():
        attributes = _attributes(span)
        result = attributes.get(
            "cicd.pipeline.task.run.result", attributes.get("cicd.pipeline.result")
        )
        raw.setdefault(attributes.get("ci_collector.result"), set()).add(result)
    assert raw["UNSTABLE"] == {"failure"}
    assert raw["ABORTED"] == {"cancellation"}
    assert raw["SUCCESS"] == {"success"}


def test_re_export_gives_identical_ids_and_bytes(tmp_path: Path) -> None:
    runs = [*github_runs(), *jenkins_runs(), *circleci_runs()]
    with running_receiver() as first, running_receiver() as second:
        send(make_sink(first, tmp_path, batch_spans=64), runs)
        send(make_sink(second, tmp_path, batch_spans=7), list(reversed(runs)))
        assert first.spans == second.spans  # same ids, same encoded spans
        send(make_sink(first, tmp_path), runs)
        assert first.conflicts == []
        assert set(first.deliveries.values()) == {2}
