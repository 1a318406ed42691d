"""Chains -> OTLP spans and `ExportTraceServiceRequest`s, from the official protobuf classes.

One trace per chain (run attempt): the trace id is the chain id's 16 bytes and a span id
the first 8 bytes of its event id, so exporting a run again yields the very same ids
(a backend deduplicates or overwrites instead of showing the run twice), and a trace
found in a backend leads back to its Trunk events by eye.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from ... import __version__
from ...mapper import event_id
from ...model import Repo
from ...trunk import EventDict
from .attributes import FAILED, Attributes, AttributeValue, run_attributes, task_attributes

SCOPE = InstrumentationScope(name="ci-collector", version=__version__)
MS = 1_000_000
_GITHUB_ATTEMPT = re.compile(r"^(.*/attempts/)(\d+)$")
_CIRCLECI_WORKFLOW = re.compile(r"^(.*/workflows/)[^/]+$")


def trace_id(chain_id: str) -> bytes:
    """The chain id's 16 bytes (``uuid.UUID(chain_id).bytes``, without building a UUID)."""
    return bytes.fromhex(chain_id.replace("-", ""))


def span_id(event: str) -> bytes:
    """The event id's first 8 bytes: its first 16 hex digits."""
    return bytes.fromhex(event[:8] + event[9:13] + event[14:18])


def previous_attempt(natural_key: str, root: EventDict) -> str | None:
    """The natural key of the attempt this one re-ran, when the platform tells.

    GitHub numbers attempts in the key; a CircleCI re-run names the workflow it re-ran.
    Jenkins has no attempts (a rebuild is a new build).
    """
    github = _GITHUB_ATTEMPT.match(natural_key)
    if github is not None:
        number = int(github.group(2))
        return f"{github.group(1)}{number - 1}" if number > 1 else None
    rerun_of = next((t["v"] for t in root["payload"]["tags"] if t["k"] == "rerun_of"), "")
    circleci = _CIRCLECI_WORKFLOW.match(natural_key)
    if rerun_of and circleci is not None:
        return f"{circleci.group(1)}{rerun_of}"
    return None


def chain_spans(natural_key: str, repo: Repo, events: list[EventDict]) -> list[Span]:
    """One span per event, root (kind SERVER, ``RUN <pipeline>``) first."""
    if not events:
        return []
    trace = trace_id(events[0]["chainId"])
    spans: list[Span] = []
    run: Attributes = {}
    for index, event in enumerate(events):
        fields: dict[str, Any] = {
            "trace_id": trace,
            "span_id": span_id(event["id"]),
            "start_time_unix_nano": event["createdAt"] * MS,
            "end_time_unix_nano": event["finishedAt"] * MS,
        }
        if "parent" in event:
            fields["parent_span_id"] = span_id(event["parent"]["eventId"])
        if index == 0:
            attributes = run = run_attributes(event, repo)
            fields["name"] = f"RUN {attributes['cicd.pipeline.name']}"
            fields["kind"] = Span.SPAN_KIND_SERVER
            previous = previous_attempt(natural_key, event)
            if previous is not None:
                before = event_id(previous)  # a re-run's root id is its own chain id
                fields["links"] = [
                    {
                        "trace_id": trace_id(before),
                        "span_id": span_id(before),
                        "attributes": [_key_value("ci_collector.link", "previous_attempt")],
                    }
                ]
        else:
            attributes = task_attributes(event, run)
            fields["name"] = event["sequence"]["name"]
            fields["kind"] = Span.SPAN_KIND_INTERNAL
        fields["attributes"] = [_key_value(k, v) for k, v in attributes.items()]
        result = attributes.get(
            "cicd.pipeline.result", attributes.get("cicd.pipeline.task.run.result")
        )
        if result in FAILED:
            message = str(attributes.get("error.type", result))
            fields["status"] = {"code": Status.STATUS_CODE_ERROR, "message": message}
        spans.append(Span(**fields))
    return spans


def resource(repo: Repo, configured: Mapping[str, str]) -> Resource:
    """The repo is the service unless the user named one (``OTEL_SERVICE_NAME``)."""
    attributes: dict[str, str] = {
        "service.name": f"{repo.owner}/{repo.name}",
        "service.namespace": repo.host,
        **configured,
    }
    return Resource(attributes=[KeyValue(**_key_value(k, v)) for k, v in attributes.items()])


def export_request(
    groups: Iterable[tuple[Repo, list[Span]]], configured: Mapping[str, str]
) -> ExportTraceServiceRequest:
    """One request: a `ResourceSpans` per repo, in the order first seen."""
    by_repo: dict[Repo, list[Span]] = {}
    for repo, spans in groups:
        by_repo.setdefault(repo, []).extend(spans)
    request = ExportTraceServiceRequest()
    for repo, spans in by_repo.items():
        request.resource_spans.append(
            ResourceSpans(
                resource=resource(repo, configured),
                scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)],
            )
        )
    return request


def _key_value(key: str, value: AttributeValue) -> dict[str, Any]:
    """A `KeyValue` as the constructor's dict form: a quarter of the cost of message objects."""
    if type(value) is str:  # nearly all of them: one cheap test first
        return {"key": key, "value": {"string_value": value}}
    if isinstance(value, bool):
        return {"key": key, "value": {"bool_value": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"int_value": value}}
    if isinstance(value, float):
        return {"key": key, "value": {"double_value": value}}
    return {"key": key, "value": {"string_value": value}}


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(message: Message) -> dict[str, object]:
    """The OTLP/JSON encoding: protobuf JSON mapping, with ids in hex and enums as integers."""
    data: dict[str, object] = json_format.MessageToDict(message, use_integers_for_enums=True)
    _hex_ids(data)
    return data


def _hex_ids(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _ID_FIELDS and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                _hex_ids(item)
    elif isinstance(value, list):
        for item in value:
            _hex_ids(item)
