"""Several destinations in one state file, through the spine's one mechanism.

Each sink remembers its deliveries under its own namespace; the state answers for all
of this run's sinks together (delivered = delivered everywhere, a bookmark only where
all agree); the tee spares a sink what it already has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_collector.ledger import Checkpoint
from ci_collector.pipeline import deliver
from ci_collector.sinks import StoreSink, TeeSink
from ci_collector.sinks.base import Batch
from ci_collector.state import State
from tests.runs import make_run


class Refusing(StoreSink):
    """A destination that sets every body aside, as a receiver answering 400 makes it."""

    def _deliver(self, batch: Batch) -> bool:
        return False


def test_a_run_is_delivered_only_once_every_destination_has_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with State(path, "") as trunk:
        trunk.mark_delivered("run/1", "src", "fp", 4)
        trunk.mark_delivered("run/2", "src", "fp", 4)
    with State(path, "otlp:") as otlp:
        otlp.mark_delivered("run/2", "src", "fp", 4)
    with State(path, "") as both:
        both.sinks = ("", "otlp:")
        assert not both.is_delivered("run/1")
        assert both.is_delivered("run/2") and both.is_delivered("run/2", "fp")
        assert not both.is_delivered("run/2", "other-fingerprint")
        both.mark_all_delivered([("run/1", "src", "fp", 4)], sink="otlp:")
        assert both.is_delivered("run/1")


@pytest.mark.parametrize("sinks", [("", "otlp:"), ("otlp:", ""), ("", "otlp:", "store:")])
def test_bookmarks_count_only_where_every_destination_agrees(
    tmp_path: Path, sinks: tuple[str, ...]
) -> None:
    path = tmp_path / "state.sqlite"
    with State(path, "") as trunk:
        trunk.set_cursor("src", {"after": 10})
        trunk.set_etag("https://api/list", "src", "W/1", b"page")
    with State(path, sinks[0]) as both:
        both.sinks = sinks
        assert both.cursor("src") is None  # OTLP has seen nothing: list again
        assert both.etag("https://api/list") is None  # conservative: list afresh
        both.set_cursor("src", {"after": 12})
        both.set_etag("https://api/list", "src", "W/2", b"page2")
        assert both.cursor("src") == {"after": 12}
        assert both.etag("https://api/list") == ("W/2", b"page2")
    with State(path, "otlp:") as otlp:
        assert otlp.cursor("src") == {"after": 12}
        otlp.set_cursor("src", {"after": 99})
    with State(path, sinks[0]) as both:
        both.sinks = sinks
        assert both.cursor("src") is None  # they disagree: the source re-lists


def test_the_tee_spares_a_sink_what_it_has_and_the_ledger_records_the_other(
    tmp_path: Path,
) -> None:
    """OTLP added beside Trunk: the history goes to OTLP only, and the cursor then
    stands for both."""
    path = tmp_path / "state.sqlite"
    old, new = make_run(1), make_run(2)
    with State(path, "") as trunk:
        trunk.mark_delivered(old.natural_key, old.source, old.fingerprint, 4)
        trunk.set_cursor(old.source, {"at": 1})
    had = StoreSink(tmp_path / "trunk.sqlite", batch_events=100, namespace="")
    lacks = StoreSink(tmp_path / "otlp.sqlite", batch_events=100, namespace="otlp:")
    tee = TeeSink(had, lacks)
    with State(path, "") as state:
        state.sinks = tee.namespaces
        tee.remembered = state.delivered_to
        assert state.cursor(old.source) is None  # OTLP has no bookmark: from the start
        summary = deliver([old, new, Checkpoint(old.source, {"at": 2})], tee, state=state)
        tee.close()
        assert summary.delivered_runs == 2
        assert had.stats.events_sent == 4 and lacks.stats.events_sent == 8
        assert state.is_delivered(old.natural_key) and state.is_delivered(new.natural_key)
        assert state.cursor(old.source) == {"at": 2}
    with State(path, "otlp:") as otlp:
        assert otlp.cursor(old.source) == {"at": 2}


def test_a_refusal_by_one_sink_is_exit_1_and_holds_the_cursor(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run = make_run(1)
    accepting = StoreSink(tmp_path / "a.sqlite", batch_events=100, namespace="")
    refusing = Refusing(tmp_path / "b.sqlite", batch_events=100, namespace="otlp:")
    tee = TeeSink(accepting, refusing)
    with State(path, "") as state:
        state.sinks = tee.namespaces
        summary = deliver([run, Checkpoint(run.source, {"at": 1})], tee, state=state)
        tee.close()
        assert summary.exit_code == 1 and summary.dead_lettered_runs == 1
        assert state.delivered_to("", run.natural_key)
        assert not state.delivered_to("otlp:", run.natural_key)
        assert state.cursor(run.source) is None
