"""The uploader against the strict Trunk stand-in on 127.0.0.1: batching, retries, refusals."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from urllib3 import HTTPHeaderDict

from ci_collector import __version__
from ci_collector.commands.common import DeliveryConfig, collect
from ci_collector.errors import RemoteError
from ci_collector.mapper import map_run
from ci_collector.model import Repo, Run
from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.retry import retry_after
from ci_collector.sinks import Chain, DeliveryFailed, TokenRejected, TrunkRefused, TrunkSink
from ci_collector.sinks.base import Ack, encode
from ci_collector.state import State
from tests.runs import make_run
from tests.servers.base import Reply
from tests.servers.trunk import PATH, TOKEN, TrunkStandIn

EVENTS_PER_RUN = 4  # make_run(): workflow, one job, two steps


@pytest.fixture
def dead_letters(tmp_path: Path) -> Path:
    return tmp_path / "dead.jsonl"


def make_sink(trunk: TrunkStandIn, dead_letters: Path, **options: Any) -> TrunkSink:
    settings: dict[str, Any] = {
        "batch_events": 100,
        "dead_letter_path": dead_letters,
        "timeout": 2.0,
        "retry_budget": 5.0,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    settings.update(options)
    token = settings.pop("token", TOKEN)
    return TrunkSink(token, settings.pop("base_url", trunk.url), **settings)


def chain_of(run: Run) -> Chain:
    return Chain(run.natural_key, run.repo, map_run(run), run.source, run.fingerprint)


def send(sink: TrunkSink, runs: Iterable[Run]) -> list[str]:
    """Add every run, flush, close; the run keys acknowledged as accepted, in order."""
    done: list[Ack] = []
    try:
        for run in runs:
            done.extend(sink.add(chain_of(run)))
        done.extend(sink.flush())
    finally:
        sink.close()
    return [ack.chain.run_key for ack in done if not ack.refused]


def posted_bodies(trunk: TrunkStandIn) -> list[bytes]:
    return [r.body for r in trunk.server.requests if r.method == "POST"]


def expected_events(runs: Iterable[Run]) -> dict[str, bytes]:
    return {
        event["id"]: json.dumps(event, sort_keys=True).encode()
        for run in runs
        for event in map_run(run)
    }


# ---- the request ---------------------------------------------------------------------


def test_posts_json_with_token_and_source_headers(trunk: TrunkStandIn, dead_letters: Path) -> None:
    run = make_run()
    assert send(make_sink(trunk, dead_letters, base_url=trunk.url + "/"), [run]) == [
        run.natural_key
    ]
    [request] = trunk.server.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.headers["x-api-token"] == TOKEN
    assert request.headers["x-source"] == f"ci-collector/{__version__}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "repo": {"host": "github.com", "owner": "acme", "name": "widgets"},
        "events": map_run(run),
    }
    assert trunk.events == expected_events([run])


# ---- batching ------------------------------------------------------------------------


def test_batches_split_at_the_event_count(trunk: TrunkStandIn, dead_letters: Path) -> None:
    runs = [make_run(n) for n in range(1, 4)]
    delivered = send(make_sink(trunk, dead_letters, batch_events=5), runs)
    assert [len(json.loads(body)["events"]) for body in posted_bodies(trunk)] == [5, 5, 2]
    assert delivered == [run.natural_key for run in runs]
    assert trunk.events == expected_events(runs)
    assert set(trunk.deliveries.values()) == {1}


def test_batches_split_at_the_body_size(trunk: TrunkStandIn, dead_letters: Path) -> None:
    limit = 4_000
    runs = [make_run(n, jobs=2, steps=3) for n in range(1, 4)]
    send(make_sink(trunk, dead_letters, batch_bytes=limit), runs)
    bodies = posted_bodies(trunk)
    assert len(bodies) > 2
    for body, following in itertools.pairwise(bodies):
        assert len(body) <= limit
        # tight: the next body's first event would not have fitted
        first_next = encode(json.loads(following)["events"][0])
        assert len(body) + 1 + len(first_next) > limit
    assert len(bodies[-1]) <= limit
    assert trunk.events == expected_events(runs)


def test_an_event_larger_than_the_size_cap_still_goes_alone(
    trunk: TrunkStandIn, dead_letters: Path
) -> None:
    run = make_run()
    run.root.tags["message"] = "x" * 3_000
    send(make_sink(trunk, dead_letters, batch_bytes=1_000), [run])
    [big] = [body for body in posted_bodies(trunk) if b"x" * 3_000 in body]
    assert len(big) > 1_000
    assert len(json.loads(big)["events"]) == 1
    assert trunk.events == expected_events([run])


def test_each_body_carries_one_repo(trunk: TrunkStandIn, dead_letters: Path) -> None:
    other = Repo("github.com", "acme", "gadgets")
    runs = [make_run(1), make_run(2, repo=other), make_run(3), make_run(4, repo=other)]
    send(make_sink(trunk, dead_letters, batch_events=8), runs)
    owners = {event["id"]: run.repo.name for run in runs for event in map_run(run)}
    bodies = [json.loads(body) for body in posted_bodies(trunk)]
    assert sorted(body["repo"]["name"] for body in bodies) == ["gadgets", "widgets"]
    for body in bodies:
        assert {owners[event["id"]] for event in body["events"]} == {body["repo"]["name"]}


def test_a_chain_is_delivered_only_after_its_last_batch(
    trunk: TrunkStandIn, dead_letters: Path
) -> None:
    sink = make_sink(trunk, dead_letters, batch_events=4)
    long_run, short_run = make_run(1, jobs=3, steps=2), make_run(2)  # 10 and 4 events
    assert sink.add(chain_of(long_run)) == []  # 8 events sent, 2 still queued
    assert len(trunk.events) == 8
    done = sink.add(chain_of(short_run))  # the next body takes the last 2 of the long run
    assert [ack.chain.run_key for ack in done] == [long_run.natural_key]
    assert [ack.chain.run_key for ack in sink.flush()] == [short_run.natural_key]
    sink.close()
    assert len(trunk.events) == 14


# ---- retries -------------------------------------------------------------------------

STORING_FAULTS = {"answer lost after storing", "slow answer"}


@pytest.mark.parametrize(
    ("name", "faults"),
    [
        ("500", [Reply(500)]),
        ("502", [Reply(502)]),
        ("503 twice", [Reply(503), Reply(503)]),
        ("429", [Reply(429, headers={"Retry-After": "0"})]),
        ("dropped connection", [Reply(500, drop=True)]),
        ("answer lost after storing", [Reply(200, drop=True)]),
        ("slow answer", [Reply(200, delay=0.8)]),
    ],
)
def test_retried_batches_arrive_once_per_event_with_identical_bytes(
    trunk: TrunkStandIn, dead_letters: Path, name: str, faults: list[Reply]
) -> None:
    runs = [make_run(n) for n in range(1, 4)]
    trunk.faults.extend(faults)
    sink = make_sink(trunk, dead_letters, batch_events=6, timeout=0.3)
    assert send(sink, runs) == [run.natural_key for run in runs]
    bodies = posted_bodies(trunk)
    retries = len(faults)
    assert sink.stats.retries == retries
    assert len(bodies) == 2 + retries
    assert len(set(bodies[: retries + 1])) == 1, "a retry changed the body"
    assert trunk.conflicts == []
    assert trunk.events == expected_events(runs)
    first_batch = {event["id"] for event in json.loads(bodies[0])["events"]}
    for event_id, count in trunk.deliveries.items():
        stored_twice = name in STORING_FAULTS and event_id in first_batch
        assert count == (2 if stored_twice else 1), (event_id, count)


def test_retry_after_is_honoured(trunk: TrunkStandIn, dead_letters: Path) -> None:
    trunk.faults.append(Reply(429, headers={"Retry-After": "0.3"}))
    trunk.faults.append(Reply(503))  # no Retry-After: a short backoff
    waits: list[float] = []  # the sink's sleeps, not the wall clock: no flake under load
    sink = make_sink(trunk, dead_letters, backoff_base=0.001, backoff_cap=0.01, sleep=waits.append)
    send(sink, [make_run()])
    assert len(trunk.server.requests) == 3
    assert waits[0] >= 0.3
    assert waits[1] < 0.3
    assert len(trunk.events) == EVENTS_PER_RUN


def test_retrying_is_bounded_in_time(trunk: TrunkStandIn, dead_letters: Path) -> None:
    trunk.faults.extend(Reply(503) for _ in range(200))
    sink = make_sink(trunk, dead_letters, retry_budget=0.5, backoff_base=0.05, backoff_cap=0.1)
    began = time.monotonic()
    with pytest.raises(DeliveryFailed, match=r"still failing after \d+ attempts \(HTTP 503\)"):
        send(sink, [make_run()])
    assert time.monotonic() - began < 1.5
    assert 2 < trunk.posts < 30
    assert trunk.events == {}


def test_a_retry_after_beyond_the_budget_fails_at_once(
    trunk: TrunkStandIn, dead_letters: Path
) -> None:
    trunk.faults.append(Reply(429, headers={"Retry-After": "120"}))
    waits: list[float] = []
    with pytest.raises(DeliveryFailed):
        send(make_sink(trunk, dead_letters, retry_budget=1.0, sleep=waits.append), [make_run()])
    assert waits == []
    assert trunk.posts == 1


def test_an_unreachable_trunk_fails_within_the_budget(dead_letters: Path, refused_url: str) -> None:
    sink = TrunkSink(
        TOKEN,
        refused_url,
        dead_letter_path=dead_letters,
        retry_budget=0.3,
        backoff_base=0.02,
        backoff_cap=0.05,
    )
    with pytest.raises(DeliveryFailed, match="ConnectError"):
        send(sink, [make_run()])


# ---- refusals ------------------------------------------------------------------------


def invalid_run(run_id: int) -> Run:
    """A run Trunk refuses (platform not snake_case): the stand-in answers 400 for real."""
    return make_run(run_id, platform="GitHub Actions")


def test_a_refused_batch_is_dead_lettered_and_the_rest_continues(
    trunk: TrunkStandIn, dead_letters: Path
) -> None:
    runs = [make_run(1), invalid_run(2), make_run(3)]
    sink = make_sink(trunk, dead_letters, batch_events=EVENTS_PER_RUN)
    delivered: list[str] = []
    summary = deliver(
        runs, sink, on_delivered=lambda done: delivered.extend(c.run_key for c in done)
    )
    sink.close()
    assert delivered == [runs[0].natural_key, runs[2].natural_key]
    assert summary.exit_code == 1
    assert summary.dead_lettered_events == EVENTS_PER_RUN
    assert trunk.events == expected_events([runs[0], runs[2]])
    [line] = dead_letters.read_text().splitlines()
    record = json.loads(line)
    assert record["status"] == 400
    assert "sequence.platform: 'GitHub Actions' is not snake_case" in record["error"]
    assert record["body"] == json.loads(posted_bodies(trunk)[1])
    assert trunk.posts == 3  # a 400 is not retried


def test_collect_exits_1_and_remembers_only_what_arrived(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    runs = [make_run(1), invalid_run(2), make_run(3)]
    config = delivery_config(trunk, tmp_path, batch_size=EVENTS_PER_RUN)

    def source(state: State, skip: SkipPolicy) -> Iterator[Run]:
        yield from runs

    assert collect(config, source) == 1
    with State(tmp_path / "state.sqlite") as state:
        assert [state.is_delivered(run.natural_key, run.fingerprint) for run in runs] == [
            True,
            False,
            True,
        ]
    assert len((tmp_path / "dead.jsonl").read_text().splitlines()) == 1


def test_a_rejected_token_stops_at_once(trunk: TrunkStandIn, dead_letters: Path) -> None:
    sink = make_sink(trunk, dead_letters, token="not-the-token-42", batch_events=EVENTS_PER_RUN)
    delivered: list[Chain] = []
    with pytest.raises(TokenRejected, match="Trunk rejected the API token"):
        deliver([make_run(n) for n in range(1, 4)], sink, on_delivered=delivered.extend)
    assert delivered == []
    assert trunk.posts == 1
    assert not dead_letters.exists()


def test_a_forbidden_token_stops_collect_with_nothing_remembered(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    trunk.faults.append(Reply(403, b'{"error":"forbidden"}'))

    def source(state: State, skip: SkipPolicy) -> Iterator[Run]:
        yield from (make_run(n) for n in range(1, 3))

    with pytest.raises(RemoteError, match="Trunk rejected the API token"):
        collect(delivery_config(trunk, tmp_path, batch_size=2), source)
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 0


def test_a_wrong_url_is_not_retried(trunk: TrunkStandIn, dead_letters: Path) -> None:
    with pytest.raises(TrunkRefused, match=r"404.*check --trunk-url"):
        send(make_sink(trunk, dead_letters, base_url=trunk.url + "/api"), [make_run()])
    assert len(trunk.server.requests) == 1


def test_too_large_bodies_are_split_in_halves(trunk: TrunkStandIn, dead_letters: Path) -> None:
    trunk.faults.append(Reply(413))
    run = make_run(jobs=1, steps=2)
    assert send(make_sink(trunk, dead_letters), [run]) == [run.natural_key]
    sizes = [len(json.loads(body)["events"]) for body in posted_bodies(trunk)]
    assert sizes == [4, 2, 2]
    assert trunk.events == expected_events([run])


def test_a_single_event_too_large_is_dead_lettered(trunk: TrunkStandIn, dead_letters: Path) -> None:
    trunk.faults.extend([Reply(413), Reply(413, b"too large")])
    sink = make_sink(trunk, dead_letters)
    run = make_run()
    run.root.children = []
    run.root.tags["log"] = "x" * 500
    other = make_run(2)
    other.root.children = []
    assert send(sink, [run, other]) == [other.natural_key]  # its half was accepted
    assert sink.stats.dead_lettered_events == 1
    assert sink.stats.events_sent == 1
    assert trunk.events == expected_events([other])
    assert [json.loads(line)["status"] for line in dead_letters.read_text().splitlines()] == [413]


# ---- the token stays secret ----------------------------------------------------------


def test_the_token_never_appears_in_logs_errors_or_files(
    trunk: TrunkStandIn, dead_letters: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    trunk.faults.extend(
        [Reply(500), Reply(500, drop=True), Reply(429, headers={"Retry-After": "0"})]
    )
    sink = make_sink(trunk, dead_letters, batch_events=EVENTS_PER_RUN)
    summary = deliver([make_run(1), invalid_run(2)], sink)
    sink.close()
    assert summary.exit_code == 1
    messages: list[str] = []
    trunk.faults.extend(Reply(503) for _ in range(50))
    with pytest.raises(DeliveryFailed) as failed:
        send(make_sink(trunk, dead_letters, retry_budget=0.2), [make_run(3)])
    messages.append(str(failed.value))
    trunk.faults.clear()
    with pytest.raises(TokenRejected) as rejected:
        send(make_sink(trunk, dead_letters, token=TOKEN[::-1]), [make_run(4)])
    messages.append(str(rejected.value))
    request_lines = [r.getMessage() for r in caplog.records if r.name == "ci_collector.posting"]
    assert f"POST {trunk.url}{PATH}: HTTP 401 (" in "\n".join(request_lines), (
        "the per-request log was not written at DEBUG: the check below would prove nothing"
    )
    # POSTs go through http.client, which logs nothing; urllib3 (which logs each
    # request at DEBUG) only through a proxy: tests/delivery/test_trunk_proxies.py
    assert any("retry" in r.getMessage() for r in caplog.records)
    for text in (caplog.text, *messages, dead_letters.read_text()):
        assert TOKEN not in text
        assert TOKEN[::-1] not in text


def delivery_config(trunk: TrunkStandIn, tmp_path: Path, batch_size: int) -> DeliveryConfig:
    return DeliveryConfig(
        trunk_token=TOKEN,
        trunk_url=trunk.url,
        output=None,
        state_path=str(tmp_path / "state.sqlite"),
        batch_size=batch_size,
        dead_letter=str(tmp_path / "dead.jsonl"),
        retry_seconds=5.0,
        timeout=2.0,
        insecure=False,
        fail_fast=False,
        wait=False,
    )


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("7", 7, 7),
        ("0.25", 0.25, 0.25),
        ("-3", 0, 0),
        ("soon", None, None),
        ("in-30s", None, None),
        ("http-date+30", 28, 30),
        ("http-date-30", 0, 0),
    ],
)
def test_retry_after_values(value: str, low: float | None, high: float | None) -> None:
    """Seconds or an HTTP date (RFC 9110); anything else is ignored, never a crash."""
    if value.startswith("http-date"):
        offset = float(value.removeprefix("http-date"))
        value = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=offset), True)
    wait = retry_after(HTTPHeaderDict({"Retry-After": value}))  # as urllib3 hands them over
    if low is None:
        assert wait is None
    else:
        assert wait is not None and low <= wait <= high
