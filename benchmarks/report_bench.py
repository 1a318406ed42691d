"""How long `ci-collector report` takes over a store of 100,000 runs (target: < 2 s).

Fills a fresh store with synthetic GitHub-shaped runs (a workflow, 3 jobs, 2 steps per
job: 10 events a run, 1,000,000 events for 100,000 runs), all inside the report's 30-day
window so every row is aggregated, then times the report as the command runs it (open
the store, build the report, render it as text, JSON and HTML). Also measures the
StoreSink's write rate through the real mapper and sink.

    python benchmarks/report_bench.py [--runs 100000] [--keep PATH]

Prints one ``name: value`` line per figure; exits 1 if the report takes 2 s or more.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ci_collector.eventstore import SCHEMA, EventStore, Row, encode_event, event_row, run_contexts
from ci_collector.mapper import event_id
from ci_collector.model import Conclusion, Node, Repo, Run
from ci_collector.pipeline import deliver
from ci_collector.report import ReportQuery, build_report
from ci_collector.report.render_html import render_html
from ci_collector.report.render_json import render_json
from ci_collector.report.render_text import render_text
from ci_collector.sinks import StoreSink

DAY_MS = 86_400_000
BUDGET_SECONDS = 2.0
WORKFLOWS = [f".github/workflows/wf{n}.yml" for n in range(20)]
JOBS = ["lint", "test", "build"]
STEPS = ["checkout", "run"]
BRANCHES = ["main", "feature/a", "feature/b", "dependabot/npm/x", "gh-readonly-queue/main/pr-1"]


def synthetic_run(n: int, now_ms: int, rnd: random.Random) -> list[dict[str, Any]]:
    """One run's events in the mapper's wire shape, root first."""
    workflow = WORKFLOWS[n % len(WORKFLOWS)]
    key = f"github.com/o/r{n % 2}/actions/runs/{n}/attempts/1"
    root_id = event_id(key)
    start = now_ms - rnd.randint(0, 30 * DAY_MS - 3_600_000)
    tags = [{"k": "branch", "v": BRANCHES[n % len(BRANCHES)]}, {"k": "sha", "v": f"{n // 60:x}"}]
    events: list[dict[str, Any]] = []
    clock = start
    failed = False
    for j, job in enumerate(JOBS):
        job_id = event_id(f"{key}/jobs/{j}")
        length = rnd.randint(20_000, 600_000)
        bad = rnd.random() < 0.08
        failed = failed or bad
        events.append(
            {
                "id": job_id,
                "chainId": root_id,
                "createdAt": clock,
                "finishedAt": clock + length,
                "conclusion": "FAILURE" if bad else "SUCCESS",
                "parent": {"eventId": root_id, "sequenceKey": workflow},
                "payload": {
                    "metrics": [
                        {"k": "duration_ms", "v": length},
                        {"k": "queue_ms", "v": rnd.randint(0, 90_000)},
                    ],
                    "tags": [],
                },
                "sequence": {
                    "platform": "github_actions",
                    "kind": "job",
                    "key": f"{workflow}/{job}",
                    "name": job,
                },
            }
        )
        for s, step in enumerate(STEPS):
            part = length // 2
            events.append(
                {
                    "id": event_id(f"{key}/jobs/{j}/steps/{s}"),
                    "chainId": root_id,
                    "createdAt": clock + s * part,
                    "finishedAt": clock + (s + 1) * part,
                    "conclusion": "SUCCESS",
                    "parent": {"eventId": job_id, "sequenceKey": f"{workflow}/{job}"},
                    "payload": {"metrics": [{"k": "duration_ms", "v": part}], "tags": []},
                    "sequence": {
                        "platform": "github_actions",
                        "kind": "step",
                        "key": f"{workflow}/{job}/{step}",
                        "name": step,
                    },
                }
            )
        clock += length
    root = {
        "id": root_id,
        "chainId": root_id,
        "createdAt": start,
        "finishedAt": clock,
        "conclusion": "FAILURE" if failed else "SUCCESS",
        "payload": {"metrics": [{"k": "duration_ms", "v": clock - start}], "tags": tags},
        "sequence": {
            "platform": "github_actions",
            "kind": "workflow",
            "key": workflow,
            "name": workflow.rsplit("/", 1)[-1],
        },
    }
    return [root, *events]


def fill(store: EventStore, runs: int, now_ms: int) -> None:
    """Bulk load with the indexes dropped, then build them once (as a restore would)."""
    indexes = [
        row[0]
        for row in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    ]
    for name in indexes:
        store.db.execute(f"DROP INDEX {name}")
    rnd = random.Random(9)
    rows: list[Row] = []
    bodies: list[tuple[str, str]] = []
    for n in range(runs):
        events = synthetic_run(n, now_ms, rnd)
        contexts = run_contexts(events)
        for event in events:
            rows.append(event_row(event, "github.com", f"o/r{n % 2}", contexts[event["id"]]))
            bodies.append((event["id"], encode_event(event)))
        if len(rows) >= 50_000:
            store.write(rows, bodies)
            rows, bodies = [], []
    store.write(rows, bodies)
    store.db.executescript(SCHEMA)
    store.db.execute("ANALYZE")


def sink_rate(path: Path, runs: int) -> float:
    """Events per second through the real mapper and StoreSink."""

    def tree(n: int) -> Run:
        jobs = [
            Node(
                "job",
                job,
                f"jobs/{j}",
                job,
                1_000 + j,
                60_000 + j,
                Conclusion.SUCCESS,
                children=[
                    Node("step", s, f"steps/{k}", s, 1_000 + j, 30_000 + j, Conclusion.SUCCESS)
                    for k, s in enumerate(STEPS)
                ],
            )
            for j, job in enumerate(JOBS)
        ]
        root = Node(
            "workflow",
            "CI",
            "",
            WORKFLOWS[0],
            1_000,
            70_000,
            Conclusion.SUCCESS,
            tags={"branch": "main", "sha": f"{n:x}"},
            children=jobs,
        )
        return Run(
            "github_actions",
            Repo("github.com", "o", "r"),
            f"github.com/o/r/actions/runs/{n}/attempts/1",
            root,
            "bench",
            "fp",
        )

    sink = StoreSink(path)
    began = time.perf_counter()
    summary = deliver((tree(n) for n in range(runs)), sink)
    elapsed = time.perf_counter() - began
    sink.close()
    return summary.events / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="Keep the filled store here.")
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "state.sqlite"
        began = time.perf_counter()
        store = EventStore(path)
        fill(store, args.runs, now_ms)
        store.close()
        print(f"fill_seconds: {time.perf_counter() - began:.1f}")
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            store = EventStore(path)
            second = store.reader()
            report = build_report(store.db, ReportQuery(now_ms - 30 * DAY_MS, now_ms), second)
            if second is not None:
                second.close()
            store.close()
            built = time.perf_counter()
            render_text(report), render_json(report), render_html(report)
            timings.append((built - began, time.perf_counter() - began))
        query_s, total_s = min(timings)
        print(f"report_runs: {report.totals.total_runs}")
        print(f"report_query_seconds: {query_s:.3f}")
        print(f"report_seconds: {total_s:.3f}")
        print(f"store_sink_events_per_second: {sink_rate(Path(tmp) / 'sink.sqlite', 5_000):.0f}")
    if total_s >= BUDGET_SECONDS:
        print(f"FAIL: report took {total_s:.2f}s (budget {BUDGET_SECONDS}s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
