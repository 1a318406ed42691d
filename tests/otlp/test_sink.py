"""Delivery through the OTLP sink: batching, acknowledgements, retries, refusals, gzip."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from ci_collector.mapper import map_run
from ci_collector.model import Repo
from ci_collector.sinks.otlp.transport import OtlpRefused, OtlpUnavailable
from tests.otlp.helpers import chain_of, make_sink, send
from tests.runs import job, make_run
from tests.servers.base import Reply
from tests.servers.otlp import API_KEY, OtlpReceiver, Partial, running_receiver

SPANS_PER_RUN = 4  # make_run(): workflow, one job, two steps


@pytest.fixture
def receiver() -> OtlpReceiver:
    with running_receiver() as stand_in:
        yield stand_in  # type: ignore[misc]


def test_a_2000_span_run_arrives_whole(receiver: OtlpReceiver, tmp_path: Path) -> None:
    run = make_run(7, jobs=333, steps=5)  # 1 + 333 * 6 = 1999 spans, and one more job:
    run.root.children.append(job(334, steps=0))
    events = map_run(run)
    assert len(events) == 2_000
    sink = make_sink(receiver, tmp_path, batch_spans=512)
    acknowledged = [ack.chain.run_key for ack in sink.add(chain_of(run))]
    assert acknowledged == []  # 3 full bodies went out; the chain is not whole yet
    assert receiver.posts == 3
    acknowledged.extend(ack.chain.run_key for ack in sink.flush() if not ack.refused)
    sink.close()
    assert acknowledged == [run.natural_key]
    assert receiver.posts == 4 and len(receiver.spans) == 2_000
    assert sink.stats.events_sent == 2_000


@pytest.mark.parametrize(("spans", "limit", "posts"), [(10, 10_000_000, 2), (1000, 3_000, None)])
def test_bodies_stay_within_the_span_and_byte_limits(
    receiver: OtlpReceiver, tmp_path: Path, spans: int, limit: int, posts: int | None
) -> None:
    runs = [make_run(n, jobs=1, steps=3) for n in range(4)]  # 5 spans each
    send(make_sink(receiver, tmp_path, batch_spans=spans, batch_bytes=limit), runs)
    assert len(receiver.spans) == 20
    sizes = [len(request.body) for request in receiver.server.requests]
    counts = [
        sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
        for export in receiver.requests_decoded
    ]
    assert max(counts) <= spans
    if posts is not None:
        assert receiver.posts == posts
    else:
        assert max(sizes) <= limit and receiver.posts > 2


@pytest.mark.parametrize("limit", [2_500, 6_000, 20_000])
def test_bodies_of_many_repos_stay_within_the_byte_limit(
    receiver: OtlpReceiver, tmp_path: Path, limit: int
) -> None:
    repos = [
        Repo("github.com", f"owner-{n}", f"repository-with-a-long-name-{n}") for n in range(12)
    ]
    runs = [make_run(n, jobs=1, steps=1, repo=repo) for n, repo in enumerate(repos)]
    sink = make_sink(receiver, tmp_path, resource_attributes={"deployment.environment": "ci"})
    sink.batch_bytes = limit
    assert len(send(sink, runs)) == 12
    assert max(len(request.body) for request in receiver.server.requests) <= limit
    assert len(receiver.spans) == 36 and receiver.posts > 1
    resources = {tuple(sorted(r.items())) for r in receiver.resources.values()}
    assert len(resources) == 12


def test_partial_success_dead_letters_every_chain_of_that_body(
    receiver: OtlpReceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = [make_run(n) for n in range(1, 5)]  # 4 spans each; bodies of 8 = two runs
    receiver.faults = [Reply(200), Partial(rejected=1, message="span 3 has no name")]
    sink = make_sink(receiver, tmp_path, batch_spans=8)
    delivered = send(sink, runs)
    # the receiver does not say which span it dropped: both runs of body 2 are refused
    assert delivered == [runs[0].natural_key, runs[1].natural_key]
    assert sink.stats.events_sent == 8 and sink.stats.dead_lettered_events == 8
    [record] = [
        json.loads(line) for line in (tmp_path / "dead.otlp.jsonl").read_text().splitlines()
    ]
    assert record["status"] == 200 and record["rejected_spans"] == 1
    assert record["error"] == "span 3 has no name"
    spans = record["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len(spans) == 8 and len(spans[0]["traceId"]) == 32  # OTLP/JSON: hex ids
    assert "partly rejected" in caplog.text


def test_a_partly_refused_chain_is_not_acked_even_if_its_other_body_passed(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    run = make_run(1, jobs=2, steps=2)  # 7 spans: bodies of 4 and 3
    receiver.faults = [Reply(200), Partial(rejected=2)]
    assert send(make_sink(receiver, tmp_path, batch_spans=4), [run]) == []


@pytest.mark.parametrize("status", [400, 415, 422])
def test_a_refused_body_is_dead_lettered_and_the_rest_goes_on(
    receiver: OtlpReceiver, tmp_path: Path, status: int
) -> None:
    runs = [make_run(n) for n in range(1, 4)]
    receiver.faults = [Reply(status, b"bad span", {"Content-Type": "text/plain"})]
    sink = make_sink(receiver, tmp_path, batch_spans=SPANS_PER_RUN)
    assert send(sink, runs) == [runs[1].natural_key, runs[2].natural_key]
    record = json.loads((tmp_path / "dead.otlp.jsonl").read_text())
    assert record["status"] == status and record["error"] == "bad span"
    assert receiver.posts == 3  # final answers are not retried


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("wait", ["2", "http-date"])
def test_retryable_answers_are_retried_after_the_asked_wait(
    receiver: OtlpReceiver, tmp_path: Path, status: int, wait: str
) -> None:
    value = "2"
    if wait == "http-date":
        value = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    receiver.faults = [Reply(status, headers={"Retry-After": value})]
    sleeps: list[float] = []
    sink = make_sink(receiver, tmp_path, sleeps=sleeps, retry_budget=60)
    run = make_run(1)
    assert send(sink, [run]) == [run.natural_key]
    assert receiver.posts == 2 and len(receiver.spans) == SPANS_PER_RUN
    assert len(sleeps) == 1 and sleeps[0] >= 1.5


def test_a_dropped_answer_is_retried_and_the_receiver_keeps_one_copy(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    receiver.faults = [Reply(200, drop=True)]  # spans kept, answer lost
    run = make_run(1)
    assert send(make_sink(receiver, tmp_path), [run]) == [run.natural_key]
    assert receiver.conflicts == [] and len(receiver.spans) == SPANS_PER_RUN
    assert set(receiver.deliveries.values()) == {2}


def test_an_endpoint_that_stays_down_ends_with_come_back_later(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    receiver.faults = [Reply(503)] * 50
    sink = make_sink(receiver, tmp_path, retry_budget=0.3)
    with pytest.raises(OtlpUnavailable, match="run again later"):
        send(sink, [make_run(1)])
    assert receiver.spans == {}


@pytest.mark.parametrize(("key", "path", "match"), [("wrong", None, "401"), (API_KEY, "/x", "404")])
def test_credentials_or_url_refused_stop_the_export(
    tmp_path: Path, key: str, path: str | None, match: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_receiver(api_key="the-right-key") as receiver:
        if path is not None:
            receiver.api_key, receiver.path = None, path
        sink = make_sink(receiver, tmp_path)
        with pytest.raises(OtlpRefused, match=match) as error:
            send(sink, [make_run(1)])
        assert API_KEY not in str(error.value) and API_KEY not in caplog.text


def test_a_too_large_body_is_sent_in_halves(receiver: OtlpReceiver, tmp_path: Path) -> None:
    runs = [make_run(n) for n in range(1, 3)]
    receiver.faults = [Reply(413)]
    assert len(send(make_sink(receiver, tmp_path, batch_spans=8), runs)) == 2
    assert receiver.posts == 3 and len(receiver.spans) == 8


@pytest.mark.parametrize("runs", [1, 9])
def test_gzip_bodies_are_compressed_and_arrive_whole(
    receiver: OtlpReceiver, tmp_path: Path, runs: int
) -> None:
    chains = [make_run(n, jobs=3) for n in range(runs)]
    sink = make_sink(receiver, tmp_path, gzip_bodies=True, batch_spans=20)
    assert len(send(sink, chains)) == runs
    assert receiver.gzipped == receiver.posts >= 1
    assert len(receiver.spans) == runs * 10
    assert all(r.headers.get("content-encoding") == "gzip" for r in receiver.server.requests)


def test_header_values_never_reach_the_log(
    receiver: OtlpReceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.faults = [Reply(503), Reply(400, b"nope")]
    send(make_sink(receiver, tmp_path), [make_run(1)])
    assert API_KEY not in caplog.text
    assert API_KEY not in (tmp_path / "dead.otlp.jsonl").read_text()
