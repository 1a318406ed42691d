"""Event -> span attributes, ids and links; OTEL_* parsing. Pure functions, many variants."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ci_collector.errors import UserError
from ci_collector.mapper import event_id
from ci_collector.model import Repo
from ci_collector.sinks.otlp.config import OtlpSettings, pairs
from ci_collector.sinks.otlp.encoder import chain_spans, previous_attempt, span_id, trace_id
from ci_collector.trunk import EventDict

REPO = Repo("github.com", "acme", "widgets")
ROOT_ID = event_id("root")
CHILD_ID = event_id("child")


def event(
    conclusion: str | None,
    tags: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> EventDict:
    made: dict[str, Any] = {
        "id": ROOT_ID,
        "chainId": ROOT_ID,
        "createdAt": 1_700_000_000_123,
        "finishedAt": 1_700_000_060_456,
        "payload": {
            "metrics": [{"k": k, "v": v} for k, v in (metrics or {}).items()],
            "tags": [{"k": k, "v": v} for k, v in (tags or {}).items()],
        },
        "sequence": {"platform": "github_actions", "kind": "workflow", "key": "ci", "name": "CI"},
    }
    if conclusion is not None:
        made["conclusion"] = conclusion
    return made  # type: ignore[return-value]


def child(of: EventDict, conclusion: str | None, tags: dict[str, Any]) -> EventDict:
    made = event(conclusion, tags)
    made["id"] = CHILD_ID
    made["chainId"] = of["chainId"]
    made["parent"] = {"eventId": of["id"], "sequenceKey": "ci"}
    made["sequence"] = {
        "platform": "jenkins",
        "kind": "stage",
        "key": "ci/Unit tests",
        "name": "Unit tests",
    }
    return made


def attributes(span: Span) -> dict[str, Any]:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


@pytest.mark.parametrize(
    ("conclusion", "raw", "result", "error_type", "status"),
    [
        ("SUCCESS", "success", "success", None, Status.STATUS_CODE_UNSET),
        ("SUCCESS", "neutral", "success", None, Status.STATUS_CODE_UNSET),
        ("FAILURE", "failure", "failure", "failure", Status.STATUS_CODE_ERROR),
        ("FAILURE", "UNSTABLE", "failure", "UNSTABLE", Status.STATUS_CODE_ERROR),
        ("FAILURE", "stale", "failure", "stale", Status.STATUS_CODE_ERROR),
        ("FAILURE", "startup_failure", "error", "startup_failure", Status.STATUS_CODE_ERROR),
        (
            "FAILURE",
            "infrastructure_fail",
            "error",
            "infrastructure_fail",
            Status.STATUS_CODE_ERROR,
        ),
        ("FAILURE", None, "failure", "_OTHER", Status.STATUS_CODE_ERROR),
        ("CANCELLED", "ABORTED", "cancellation", None, Status.STATUS_CODE_UNSET),
        ("TIMED_OUT", "timed_out", "timeout", None, Status.STATUS_CODE_ERROR),
        ("SKIPPED", "skipped", "skip", None, Status.STATUS_CODE_UNSET),
        (None, None, None, None, Status.STATUS_CODE_UNSET),
    ],
)
def test_results_error_type_and_status_for_runs_and_tasks(
    conclusion: str | None, raw: str | None, result: str | None, error_type: str | None, status: int
) -> None:
    tags = {"result": raw} if raw else {}
    root = event(conclusion, tags)
    task = child(root, conclusion, tags)
    run_span, task_span = chain_spans("k", REPO, [root, task])
    for span, name in (
        (run_span, "cicd.pipeline.result"),
        (task_span, "cicd.pipeline.task.run.result"),
    ):
        got = attributes(span)
        assert got.get(name) == result
        assert got.get("error.type") == error_type
        assert span.status.code == status


def test_run_span_vcs_and_identity_attributes() -> None:
    tags = {
        "branch": "main",
        "sha": "abc123",
        "pr_number": "42",
        "url": "https://x/runs/7",
        "run_id": "7",
        "attempt": "3",
        "runner": "agent-1",
    }
    span = chain_spans("k", REPO, [event("SUCCESS", tags, {"queue_ms": 1500, "pause_ms": 20})])[0]
    got = attributes(span)
    assert span.kind == Span.SPAN_KIND_SERVER and span.name == "RUN CI"
    assert got["cicd.pipeline.run.id"] == "7"
    assert got["cicd.pipeline.run.url.full"] == "https://x/runs/7"
    assert got["vcs.repository.url.full"] == "https://github.com/acme/widgets"
    assert got["vcs.ref.head.name"] == "main" and got["vcs.ref.head.type"] == "branch"
    assert got["vcs.ref.head.revision"] == "abc123" and got["vcs.change.id"] == "42"
    assert got["vcs.provider.name"] == "github" and got["cicd.worker.name"] == "agent-1"
    assert got["ci_collector.attempt"] == "3"
    assert got["ci_collector.queue.duration_ms"] == 1500
    assert got["ci_collector.pause.duration_ms"] == 20
    assert "ci_collector.duration_ms" not in got  # the span's own length
    assert span.start_time_unix_nano == 1_700_000_000_123_000_000
    assert span.end_time_unix_nano == 1_700_000_060_456_000_000


def test_a_tag_build_names_the_ref_as_a_tag_and_jenkins_names_the_job() -> None:
    tags = {"vcs_tag": "v1.2", "job": "team/app", "build": "12"}
    got = attributes(
        chain_spans("k", Repo("gitlab.example", "t", "a"), [event("SUCCESS", tags)])[0]
    )
    assert got["vcs.ref.head.name"] == "v1.2" and got["vcs.ref.head.type"] == "tag"
    assert got["cicd.pipeline.name"] == "team/app" and got["cicd.pipeline.run.id"] == "team/app#12"
    assert got["vcs.provider.name"] == "gitlab"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"url": "https://github.com/o/r/actions/runs/1/job/70001"}, "70001"),
        ({"url": "http://jenkins/job/app/6/execution/node/13/"}, "13"),
        ({"job_number": "3", "url": "https://app.circleci.com/x/jobs/3"}, "3"),
        ({}, CHILD_ID),
    ],
)
def test_task_run_ids_come_from_the_platform_else_the_event(
    tags: dict[str, Any], expected: str
) -> None:
    root = event("SUCCESS")
    task = chain_spans("k", REPO, [root, child(root, "SUCCESS", tags)])[1]
    got = attributes(task)
    assert task.kind == Span.SPAN_KIND_INTERNAL and task.name == "Unit tests"
    assert got["cicd.pipeline.task.run.id"] == expected
    assert got["cicd.pipeline.task.type"] == "test"
    assert task.parent_span_id == span_id(ROOT_ID) and task.trace_id == trace_id(ROOT_ID)


def test_ids_are_the_chain_and_event_uuids() -> None:
    for text in (ROOT_ID, CHILD_ID, str(uuid.uuid4())):
        assert trace_id(text) == uuid.UUID(text).bytes
        assert span_id(text) == uuid.UUID(text).bytes[:8]


@pytest.mark.parametrize(
    ("key", "tags", "expected"),
    [
        ("github.com/o/r/actions/runs/9/attempts/1", {}, None),
        (
            "github.com/o/r/actions/runs/9/attempts/2",
            {},
            "github.com/o/r/actions/runs/9/attempts/1",
        ),
        (
            "github.com/o/r/actions/runs/9/attempts/11",
            {},
            "github.com/o/r/actions/runs/9/attempts/10",
        ),
        (
            "circleci.com/gh/o/r/workflows/bbb",
            {"rerun_of": "aaa"},
            "circleci.com/gh/o/r/workflows/aaa",
        ),
        ("circleci.com/gh/o/r/workflows/bbb", {"rerun_of": ""}, None),
        ("jenkins.test/team/app/6", {}, None),
    ],
)
def test_previous_attempts_from_natural_keys(
    key: str, tags: dict[str, Any], expected: str | None
) -> None:
    root = event("SUCCESS", tags)
    assert previous_attempt(key, root) == expected
    [span] = chain_spans(key, REPO, [root])
    if expected is None:
        assert list(span.links) == []
    else:
        [link] = span.links
        assert link.trace_id == trace_id(event_id(expected))
        assert link.span_id == span_id(event_id(expected))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,b=2", {"a": "1", "b": "2"}),
        (" a = 1 , , b=x%20y ", {"a": "1", "b": "x y"}),
        ("authorization=Basic%20dXNlcjpwYXNz", {"authorization": "Basic dXNlcjpwYXNz"}),
        ("k=v=w", {"k": "v=w"}),
        ("k=", {"k": ""}),
        ("", {}),
    ],
)
def test_header_pairs_parse_like_the_sdks(text: str, expected: dict[str, str]) -> None:
    assert pairs(text, "OTEL_EXPORTER_OTLP_HEADERS") == expected


@pytest.mark.parametrize("text", ["novalue", "=v", "a=1,b"])
def test_malformed_headers_name_no_value(text: str) -> None:
    with pytest.raises(UserError, match="key=value") as error:
        pairs(text, "OTEL_EXPORTER_OTLP_HEADERS")
    assert "1" not in str(error.value).split(":", 1)[1]


@pytest.mark.parametrize(
    ("endpoint", "traces", "url", "shown"),
    [
        ("http://c:4318", None, "http://c:4318/v1/traces", "http://c:4318/v1/traces"),
        ("http://c:4318/", None, "http://c:4318/v1/traces", "http://c:4318/v1/traces"),
        ("https://gw/otlp", None, "https://gw/otlp/v1/traces", "https://gw/otlp/v1/traces"),
        ("http://x", "https://t/custom", "https://t/custom", "https://t/custom"),
        (
            None,
            "https://u:pw123@t:8/v1/traces",
            "https://u:pw123@t:8/v1/traces",
            "https://***@t:8/v1/traces",
        ),
        (None, None, "", ""),
    ],
)
def test_endpoint_resolution_and_masking(
    endpoint: str | None, traces: str | None, url: str, shown: str
) -> None:
    settings = OtlpSettings.parse(
        endpoint=endpoint,
        traces_endpoint=traces,
        headers="x-key=secret-value",
        compression="GZIP",
        service_name="svc",
        resource_attributes="team=a%2Cb",
    )
    assert settings.url == url and settings.display_url == shown
    assert settings.enabled == bool(url)
    assert settings.gzip and settings.resource == {"team": "a,b", "service.name": "svc"}
    assert "secret-value" not in repr(settings)
