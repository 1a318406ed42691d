"""The local store: idempotent by event id, the default sink, and ``--store`` beside Trunk."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_collector.commands.common import DeliveryConfig, build_sink, collect
from ci_collector.mapper import map_run
from ci_collector.model import Run
from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.sinks import JsonlSink, StoreSink, TeeSink, TrunkSink
from ci_collector.sinks.base import Chain
from ci_collector.state import State
from tests.report.history import C, History, Job
from tests.servers.trunk import TOKEN, TrunkStandIn


def two_runs() -> list[Run]:
    history = History()
    history.run(0, 60, C.FAILURE, sha="abc", jobs=[Job("test", 50, C.FAILURE, steps=[("go", 40)])])
    history.run(100, 60, C.SUCCESS, sha="abc", jobs=[Job("test", 50)])
    return history.runs


def rows(path: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    found = {row["id"]: dict(row) for row in db.execute("SELECT * FROM events")}
    db.close()
    return found


def config(tmp_path: Path, **changes: Any) -> DeliveryConfig:
    values: dict[str, Any] = dict(
        trunk_token=None,
        trunk_url="http://127.0.0.1:9",
        output=None,
        store=False,
        state_path=str(tmp_path / "state.sqlite"),
        batch_size=100,
        dead_letter=str(tmp_path / "dead.jsonl"),
        retry_seconds=5.0,
        timeout=5.0,
        insecure=False,
        fail_fast=False,
        wait=False,
    )
    values.update(changes)
    return DeliveryConfig(**values)


def test_rows_carry_the_run_context(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    runs = two_runs()
    sink = StoreSink(path, batch_events=2)
    assert deliver(runs, sink).delivered_runs == 2
    sink.close()
    stored = rows(path)
    assert len(stored) == sum(len(map_run(run)) for run in runs) == 5
    by_kind = {row["kind"]: row for row in stored.values() if row["conclusion"] == "FAILURE"}
    root, job = by_kind["workflow"], by_kind["job"]
    assert (root["depth"], root["leaf"], job["depth"], job["leaf"]) == (0, 0, 1, 0)
    assert job["run_id"] == root["id"] and job["workflow_key"] == root["sequence_key"]
    assert (job["branch"], job["sha"]) == ("main", "abc")  # inherited from the run
    step = next(row for row in stored.values() if row["kind"] == "step")
    assert (step["depth"], step["leaf"], step["duration_ms"]) == (2, 1, 40_000)
    body = (
        sqlite3.connect(path)
        .execute("SELECT body FROM event_bodies WHERE id = ?", (root["id"],))
        .fetchone()[0]
    )
    assert json.loads(body) == map_run(runs[0])[0]


def test_same_event_twice_is_one_row_updated(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    run = two_runs()[0]
    for conclusion in (C.FAILURE, C.SUCCESS):
        run.root.conclusion = conclusion
        sink = StoreSink(path)
        deliver([run, run], sink)  # twice in one session too, before a flush
        sink.close()
    stored = rows(path)
    assert len(stored) == 3
    root = next(row for row in stored.values() if row["depth"] == 0)
    assert root["conclusion"] == "SUCCESS"


def test_without_token_or_output_events_go_to_the_store(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with State(":memory:") as state:
        assert isinstance(build_sink(cfg, state.path), StoreSink)
    assert isinstance(
        build_sink(config(tmp_path, output=str(tmp_path / "o.jsonl")), tmp_path / "x"), JsonlSink
    )

    def source(state: State, skip: SkipPolicy) -> Iterator[Run]:
        yield from two_runs()

    assert collect(cfg, source) == 0
    assert len(rows(tmp_path / "state.sqlite")) == 5
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 2


def test_store_beside_trunk(tmp_path: Path, trunk: TrunkStandIn) -> None:
    cfg = config(tmp_path, trunk_token=TOKEN, trunk_url=trunk.url, store=True, batch_size=3)
    sink = build_sink(cfg, tmp_path / "x.sqlite")
    assert isinstance(sink, TeeSink) and isinstance(sink.primary, TrunkSink)
    sink.close()

    def source(state: State, skip: SkipPolicy) -> Iterator[Run]:
        yield from two_runs()

    assert collect(cfg, source) == 0
    stored = rows(tmp_path / "state.sqlite")
    assert set(stored) == set(trunk.events) and len(stored) == 5
    with State(tmp_path / "state.sqlite") as state:
        assert state.delivered_count() == 2


def test_a_chain_is_delivered_only_when_both_sinks_took_it(tmp_path: Path) -> None:
    store_a, store_b = StoreSink(tmp_path / "a.sqlite", 100), StoreSink(tmp_path / "b.sqlite", 2)
    tee = TeeSink(store_a, store_b)
    delivered: list[str] = []
    summary = deliver(
        two_runs(), tee, on_delivered=lambda done: delivered.extend(c.run_key for c in done)
    )
    tee.close()
    assert summary.delivered_runs == 2 and len(set(delivered)) == 2
    assert tee.stats is store_a.stats


def test_store_cannot_go_with_a_dry_run(tmp_path: Path) -> None:
    import pytest

    from ci_collector.errors import UserError

    with pytest.raises(UserError, match="--store"):
        build_sink(config(tmp_path, output="-", store=True), tmp_path / "x")


# ---- an id queued twice ------------------------------------------------------------------


def chains_with_repeated_ids() -> list[Chain]:
    """What a collector bug or a listing that moved used to produce: one id queued twice,
    within a chain (a job listed on two pages) and across chains (a run queued again)."""
    run = two_runs()[0]
    events = map_run(run)
    twice_inside = Chain(run.natural_key, run.repo, [*events, events[1]], run.source, "a")
    again = Chain(run.natural_key, run.repo, list(events), run.source, "a")
    other = two_runs()[1]
    return [twice_inside, again, Chain(other.natural_key, other.repo, map_run(other), "", "b")]


@pytest.mark.parametrize("batch_events", [1, 2, 5, 1000])
def test_every_sink_tolerates_an_id_queued_twice(
    trunk: TrunkStandIn, tmp_path: Path, batch_events: int
) -> None:
    store = StoreSink(tmp_path / "store.sqlite", batch_events=batch_events)
    dry = JsonlSink(tmp_path / "dry.jsonl", batch_events=batch_events)
    wet = TrunkSink(
        TOKEN, trunk.url, batch_events=batch_events, dead_letter_path=tmp_path / "dead.jsonl"
    )
    tee = TeeSink(
        TrunkSink(TOKEN, trunk.url, dead_letter_path=tmp_path / "dead2.jsonl"),
        StoreSink(tmp_path / "tee.sqlite", batch_events=batch_events),
    )
    for sink in (store, dry, wet, tee):
        accepted = []
        for chain in chains_with_repeated_ids():
            accepted += sink.add(chain)
        accepted += sink.flush()
        sink.close()
        assert len(accepted) == 3, sink
    ids = {event["id"] for chain in chains_with_repeated_ids() for event in chain.events}
    assert set(rows(tmp_path / "store.sqlite")) == ids
    assert set(rows(tmp_path / "tee.sqlite")) == ids
    assert ids <= set(trunk.events) and trunk.conflicts == []
