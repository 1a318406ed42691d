"""The dry run: JSON lines that are exactly the bodies `TrunkSink` would POST."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_collector.model import Repo, Run
from ci_collector.pipeline import deliver
from ci_collector.sinks import JsonlSink, TrunkSink
from ci_collector.validate import validate_lines
from tests.runs import make_run
from tests.servers.trunk import TOKEN, TrunkStandIn

OTHER = Repo("github.com", "acme", "gadgets")


def some_runs() -> list[Run]:
    return [make_run(1, jobs=2), make_run(2, repo=OTHER), make_run(3, jobs=3, steps=3)]


def test_lines_are_byte_identical_to_what_trunk_receives(
    trunk: TrunkStandIn, tmp_path: Path
) -> None:
    out = tmp_path / "dry.jsonl"
    dry = JsonlSink(out, batch_events=7, batch_bytes=5_000)
    dry_summary = deliver(some_runs(), dry)
    dry.close()
    wet = TrunkSink(
        TOKEN,
        trunk.url,
        batch_events=7,
        batch_bytes=5_000,
        dead_letter_path=tmp_path / "dead.jsonl",
    )
    wet_summary = deliver(some_runs(), wet)
    wet.close()
    posted = [request.body for request in trunk.server.requests]
    assert out.read_bytes().splitlines() == posted
    assert out.read_bytes().endswith(b"\n")
    assert len(posted) > 3
    assert dry.stats.requests == len(posted)
    assert dry_summary.delivered_runs == wet_summary.delivered_runs == 3
    assert dry.stats.events_sent == wet.stats.events_sent == len(trunk.events)


def test_every_line_is_a_valid_body_within_the_limits(tmp_path: Path) -> None:
    out = tmp_path / "dry.jsonl"
    sink = JsonlSink(out, batch_events=5)
    deliver(some_runs(), sink)
    sink.close()
    lines = out.read_bytes().splitlines()
    assert all(len(json.loads(line)["events"]) <= 5 for line in lines)
    report = validate_lines(lines)
    assert (report.errors, report.warnings) == ([], [])
    assert report.events == 7 + 4 + 13


def test_dash_writes_to_stdout(capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path) -> None:
    sink = JsonlSink("-", batch_events=100)
    deliver([make_run(1)], sink)
    sink.close()
    out = capfdbinary.readouterr().out
    file_sink = JsonlSink(tmp_path / "same.jsonl", batch_events=100)
    deliver([make_run(1)], file_sink)
    file_sink.close()
    assert out == (tmp_path / "same.jsonl").read_bytes()
    assert len(out.splitlines()) == 1
    assert not Path("-").exists()
