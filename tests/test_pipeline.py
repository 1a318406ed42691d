"""The run loop: runs that cannot be mapped are skipped (or stop the poll under --fail-fast)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_collector.errors import ComeBackLater, RunSkipped
from ci_collector.model import Node, Run
from ci_collector.pipeline import SkipPolicy, deliver
from ci_collector.sinks import JsonlSink
from tests.runs import REPO, make_run


def timeless_run() -> Run:
    return Run("jenkins", REPO, "ci.example/job/x/1", Node("pipeline", "x", "", "x"))


def test_an_unmappable_run_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl")
    delivered: list[str] = []
    summary = deliver(
        [make_run(1), timeless_run(), make_run(2)],
        sink,
        on_delivered=lambda done: delivered.extend(c.run_key for c in done),
    )
    sink.close()
    assert delivered == [make_run(1).natural_key, make_run(2).natural_key]
    assert (summary.runs, summary.delivered_runs, summary.events) == (3, 2, 8)
    assert summary.skipped == ["skipped ci.example/job/x/1: pipeline 'x' has no timestamps at all"]
    assert summary.exit_code == 0
    assert "skipped ci.example/job/x/1" in caplog.text


def test_fail_fast_stops_at_the_first_unmappable_run(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl")
    with pytest.raises(RunSkipped, match=r"skipped ci.example/job/x/1: .* \(--fail-fast\)"):
        deliver([make_run(1), timeless_run(), make_run(2)], sink, skip=SkipPolicy(True))
    sink.close()


def test_a_source_cut_short_still_delivers_what_it_read(tmp_path: Path) -> None:
    """A rate limit mid-poll: the runs read before it are flushed and recorded, then 75."""

    def rate_limited() -> Iterator[Run]:
        yield make_run(1)
        yield make_run(2)
        raise ComeBackLater("rate limited until 10:00")

    sink = JsonlSink(tmp_path / "out.jsonl", batch_events=100)
    delivered: list[str] = []
    with pytest.raises(ComeBackLater, match="rate limited"):
        deliver(
            rate_limited(),
            sink,
            on_delivered=lambda done: delivered.extend(c.run_key for c in done),
        )
    sink.close()
    assert delivered == [make_run(1).natural_key, make_run(2).natural_key]
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 1
