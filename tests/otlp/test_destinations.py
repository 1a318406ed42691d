"""Several destinations in one state file: the combined view, the per-destination ledger."""

from __future__ import annotations

from pathlib import Path

from ci_collector.destinations import CombinedState, FanOut, Ledger
from ci_collector.sinks import Chain, StoreSink
from ci_collector.state import State
from tests.otlp.helpers import chain_of
from tests.runs import make_run


def test_a_run_is_delivered_only_once_every_destination_has_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with State(path, "") as trunk:
        trunk.mark_delivered("run/1", "src", "fp", 4)
        trunk.mark_delivered("run/2", "src", "fp", 4)
    with State(path, "otlp:") as otlp:
        otlp.mark_delivered("run/2", "src", "fp", 4)
    with CombinedState(path, ["", "otlp:"]) as both:
        assert not both.is_delivered("run/1")
        assert both.is_delivered("run/2") and both.is_delivered("run/2", "fp")
        assert not both.is_delivered("run/2", "other-fingerprint")
        assert both.delivered_count("src") == 1
        both.mark_all_delivered([("run/1", "src", "fp", 4)])
        assert both.is_delivered("run/1")


def test_bookmarks_count_only_where_every_destination_agrees(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with State(path, "") as trunk:
        trunk.set_cursor("src", {"after": 10})
        trunk.set_etag("https://api/list", "src", "W/1", b"page")
    with CombinedState(path, ["", "otlp:"]) as both:
        assert both.cursor("src") is None  # OTLP has seen nothing: list again
        assert both.etag("https://api/list") is None  # conservative: list afresh
        both.set_cursor("src", {"after": 12})
        both.set_etag("https://api/list", "src", "W/2", b"page2")
        assert both.cursor("src") == {"after": 12}
        assert both.etag("https://api/list") == ("W/2", b"page2")
    with State(path, "otlp:") as otlp:
        assert otlp.cursor("src") == {"after": 12}
        otlp.set_cursor("src", {"after": 99})
    with CombinedState(path, ["", "otlp:"]) as both:
        assert both.cursor("src") is None  # they disagree: the source re-lists


def test_a_ledger_skips_what_its_destination_has_and_records_what_it_takes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    old, new = make_run(1), make_run(2)
    with State(path, "otlp:") as otlp:
        otlp.mark_delivered(old.natural_key, old.source, old.fingerprint, 4)
    sink = StoreSink(tmp_path / "store.sqlite", batch_events=100)
    ledger = Ledger(sink, State(path, "otlp:"))
    assert [c.run_key for c in ledger.add(chain_of(old))] == [old.natural_key]  # skipped
    assert ledger.add(chain_of(new)) == []
    assert [c.run_key for c in ledger.flush()] == [new.natural_key]
    ledger.close()
    assert sink.stats.events_sent == 4  # only the new run was written
    with State(path, "otlp:") as otlp:
        assert otlp.is_delivered(new.natural_key, new.fingerprint)


def test_fan_out_acks_a_chain_once_every_sink_took_it_and_adds_up_refusals(
    tmp_path: Path,
) -> None:
    first = StoreSink(tmp_path / "a.sqlite", batch_events=4)
    second = StoreSink(tmp_path / "b.sqlite", batch_events=100)
    fan = FanOut([first, second])
    run = make_run(1)
    chain = Chain(run.natural_key, run.repo, chain_of(run).events, run.source, run.fingerprint)
    assert fan.add(chain) == []  # the first sink has it, the second still queues it
    assert fan.flush() == [chain]
    second.stats.dead_lettered_events = 3  # as a refusing sink would count
    fan.flush()
    assert fan.stats.events_sent == 4 and fan.stats.dead_lettered_events == 3
    fan.close()
