"""The latency benchmark's CircleCI history (benchmarks/circleci_history.py) is what it says.

The benchmark's rows are only worth their request counts if the generated project is the
shape it claims: N pipelines x W workflows x J jobs, every workflow one delivered run,
pages of 20 as CircleCI sends them. Served here by the test suite's own loopback server
and read by the real CLI, from both template origins (the shared recordings and the
project's cassette).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ci_collector.times import ms_to_iso
from tests.conftest import ROOT, require_shared_recordings, run_cli
from tests.servers.circleci import API_PREFIX, TOKEN, running_circleci

sys.path.insert(0, str(ROOT / "benchmarks"))
import circleci_history as bench
import history

SHAPES = [(1, 1, 1), (21, 2, 4), (40, 3, 2), (3, 6, 21)]
"""(pipelines, workflows, jobs): one of each; a second pipeline page; exactly two full pages;
workflow names wrapping and a job list of two pages."""


@pytest.fixture(params=["fixtures", "cassette"])
def templates(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "fixtures":
        require_shared_recordings()
        yield bench.circleci_templates()
        return
    absent = tmp_path / "no-shared-fixtures"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench, "FIXTURES", absent)
        patch.setattr(history, "FIXTURES", absent)
        found = bench.circleci_templates()
    assert found.origin == "cassettes/circleci/poll.yaml"
    yield found


@pytest.mark.parametrize(("pipelines", "workflows", "jobs"), SHAPES)
def test_the_collector_reads_the_history_it_was_promised(
    templates: Any, pipelines: int, workflows: int, jobs: int, tmp_path: Path
) -> None:
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    start = now - int(timedelta(days=1).total_seconds() * 1000)
    shape = bench.CircleCIShape("gh/bench/history", pipelines, workflows, jobs, start, 60_000)
    world = bench.circleci_world(templates, shape)
    created = [p["created_at"] for p in world.pipelines]
    assert created == sorted(created, reverse=True)  # newest first, as CircleCI lists them
    assert len(set(created)) == pipelines == len(world.pipelines)
    for item, template in [
        (world.pipelines[0], templates.pipeline),
        (next(iter(world.workflows.values()))[0], templates.workflow),
        (next(iter(world.jobs.values()))[0], templates.job),
    ]:
        assert set(template) <= set(item)  # the real fields the collector skips are kept
    out = tmp_path / "bodies.jsonl"
    with running_circleci(world):
        result = run_cli(
            "circleci",
            "--project-slug",
            shape.slug,
            "--circleci-api-url",
            world.api_url,
            "--since",
            ms_to_iso(start - 60_000),
            "--output",
            str(out),
            env={"CIRCLECI_TOKEN": TOKEN},
        )
        assert result.returncode == 0, result.stderr
    asked = Counter(_kind(request.path) for request in world.server.requests)
    pages = math.ceil(jobs / bench.PAGE_SIZE)
    assert dict(asked) == {
        "pipelines": math.ceil(pipelines / bench.PAGE_SIZE),
        "workflows": pipelines,
        "jobs": shape.runs * pages,
    }
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)["events"]]
    roots = [e for e in events if "parent" not in e]
    assert len(roots) == shape.runs and len(events) == shape.runs * (1 + jobs)
    failed = sum(1 for k in range(shape.runs) if k % 7 == 3)
    assert sum(1 for r in roots if r["conclusion"] == "FAILURE") == failed


def _kind(path: str) -> str:
    route = urlsplit(path).path.removeprefix(API_PREFIX)
    if route.startswith("/project/"):
        return "details" if "/job/" in route else "pipelines"
    return {"/pipeline/": "workflows", "/workflow/": "jobs"}.get(route[:10], "other")
