"""Real recorded GitHub runs (``shared/fixtures/github``, read in place) through the OTLP sink.

Each recorded run that has its jobs page beside it becomes a chain, is sent to the
loopback receiver and must arrive span for span: ids, parents and times as the Trunk
events have them. Skips (naming the folder) when the fixtures are absent; fails under CI.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ci_collector.mapper import map_run
from ci_collector.model import Repo
from ci_collector.sources.github.mapping import build_run
from tests.conftest import SHARED_FIXTURES, require_shared_recordings
from tests.otlp.helpers import make_sink, send
from tests.servers.otlp import running_receiver

FIXTURES = SHARED_FIXTURES / "github"
REPO = Repo("github.com", "fixture-owner", "fixture-repo")


def pairs() -> list[Path]:
    require_shared_recordings()
    return sorted(
        p.with_name(p.name.removesuffix("_jobs.json") + ".json")
        for p in FIXTURES.glob("*_jobs.json")
    )


def test_recorded_github_runs_arrive_span_for_span(tmp_path: Path) -> None:
    found = [p for p in pairs() if p.exists()]
    assert found, f"no run + jobs pairs in {FIXTURES}"
    runs = []
    for path in found:
        run = json.loads(path.read_text(encoding="utf-8"))
        jobs = json.loads(path.with_name(path.stem + "_jobs.json").read_text(encoding="utf-8"))
        runs.append(build_run(REPO, run, jobs["jobs"], source="github:fixtures"))
    events = {
        (uuid.UUID(e["chainId"]).bytes, uuid.UUID(e["id"]).bytes[:8]): e
        for run in runs
        for e in map_run(run)
    }
    with running_receiver() as receiver:
        assert len(send(make_sink(receiver, tmp_path, batch_spans=25), runs)) == len(runs)
        assert set(receiver.spans) == set(events)
        for span in receiver.all_spans():
            event = events[(span.trace_id, span.span_id)]
            assert span.start_time_unix_nano // 1_000_000 == event["createdAt"]
            assert span.end_time_unix_nano // 1_000_000 == event["finishedAt"]
            parent = event.get("parent")
            expected = uuid.UUID(parent["eventId"]).bytes[:8] if parent else b""
            assert span.parent_span_id == expected
