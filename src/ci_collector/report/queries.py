"""Run the report's SQL against a store and assemble the `Report`.

Python only reshapes aggregated rows here (one per workflow, job, day or class); it
never iterates over runs.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..times import ms_to_iso
from . import sql
from .model import (
    BranchClassSummary,
    DayPoint,
    Distribution,
    FlakyJob,
    JobSummary,
    Metrics,
    Percentiles,
    Report,
    ReportQuery,
    SlowNode,
    Trend,
    WorkflowSummary,
)

Key = tuple[Any, ...]
RUNS = "depth = 0"
JOBS = "depth = 1"
RUNS_AND_JOBS = "depth <= 1"
LEAVES = "leaf = 1 AND depth > 0"
WORKFLOW = ("repo", "platform", "key", "cur")
JOB = ("repo", "platform", "workflow_key", "key")
BRANCH_CLASSES = ("default_branch", "pull_request", "merge_queue", "bot", "other")


class Aggregates:
    """The rows of one `sql.distribution` query, by group key."""

    def __init__(self, rows: Sequence[Sequence[Any]], width: int) -> None:
        self.rows = {tuple(row[:width]): tuple(row[width:]) for row in rows}

    def metrics(self, key: Key, days: float) -> Metrics:
        row = self.rows.get(key)
        if row is None:
            return Metrics()
        total, good, bad, cancelled = (int(v) for v in row[:4])
        decided = total - cancelled
        return Metrics(
            total_runs=total,
            successful_runs=good,
            failed_runs=bad,
            cancelled_runs=cancelled,
            success_rate=good / decided if decided else None,
            throughput=total / days if days else 0.0,
            duration_metrics=self.distribution(key),
        )

    def distribution(self, key: Key) -> Distribution:
        row = self.rows.get(key)
        if row is None or not row[4]:
            return Distribution()
        count, low, high, mean, total, median, p95, variance = row[4:12]
        return Distribution(
            count=int(count), min=low, median=median, mean=mean, p95=p95, max=high,
            standard_deviation=math.sqrt(max(variance, 0.0)), total=total,
        )

    def percentiles(self, key: Key) -> Percentiles:
        found = self.distribution(key)
        return Percentiles(found.count, found.median, found.p95)

    def label(self, key: Key) -> tuple[str, str]:
        row = self.rows[key]
        return str(row[12]), str(row[13])


class ReportBuilder:
    def __init__(self, db: sqlite3.Connection, query: ReportQuery) -> None:
        self.db = db
        self.query = query
        self.where, self.params = _filters(query)
        self.params.update(
            start=query.start_ms, end=query.end_ms, lower=query.previous_start_ms,
            limit=query.limit,
        )

    def _rows(self, statement: str, current_only: bool = False) -> list[Any]:
        params = dict(self.params)
        if current_only:
            params["lower"] = self.query.start_ms
        return self.db.execute(statement, params).fetchall()

    def _aggregate(
        self, depth: str, groups: Sequence[str], value: str = "duration_ms",
        current_only: bool = False, extra: str = "",
    ) -> Aggregates:
        where = self.where + (f" AND {value} IS NOT NULL" if value != "duration_ms" else "")
        src = sql.source(depth, where, extra)
        rows = self._rows(sql.distribution(src, groups, value), current_only)
        return Aggregates(rows, len(groups))

    def _recoveries(self, groups: Sequence[str]) -> dict[Key, tuple[int, float]]:
        rows = self._rows(sql.recoveries(sql.source(RUNS, self.where), groups))
        width = len(groups)
        return {tuple(r[:width]): (int(r[width]), float(r[width + 1])) for r in rows}

    def build(self) -> Report:
        q = self.query
        days = q.days
        runs = self._aggregate(RUNS, WORKFLOW)
        queues = self._aggregate(
            RUNS_AND_JOBS, ("repo", "platform", "workflow_key"), "queue_ms", current_only=True
        )
        recoveries = self._recoveries(WORKFLOW)
        totals = self._aggregate(RUNS, ("cur",))
        total_queue = self._aggregate(RUNS_AND_JOBS, ("cur",), "queue_ms", current_only=True)
        total_recoveries = self._recoveries(("cur",))
        jobs = self._jobs(days)
        workflows: list[WorkflowSummary] = []
        for key in sorted({k[:3] for k in runs.rows if k[3] == 1}):
            current = runs.metrics((*key, 1), days)
            _recovered(current, recoveries.get((*key, 1)))
            current.queue_metrics = queues.percentiles(key)
            before = runs.metrics((*key, 0), days)
            _recovered(before, recoveries.get((*key, 0)))
            name, kind = runs.label((*key, 1))
            workflows.append(WorkflowSummary(
                repo=key[0], platform=key[1], key=key[2], name=name, kind=kind,
                metrics=current, previous=before, trend=trend(current, before),
                jobs=jobs.get(key, []),
            ))
        workflows.sort(key=lambda w: (-w.metrics.total_runs, w.repo, w.key))
        current_totals = totals.metrics((1,), days)
        _recovered(current_totals, total_recoveries.get((1,)))
        current_totals.queue_metrics = total_queue.percentiles((1,))
        previous_totals = totals.metrics((0,), days)
        _recovered(previous_totals, total_recoveries.get((0,)))
        slow_by_p95, slow_by_total = self._slowest()
        return Report(
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            window=_window(q.start_ms, q.end_ms),
            previous_window=_window(q.previous_start_ms, q.start_ms),
            filters={
                "repo": q.repo, "branch": q.branch, "platform": q.platform,
                "default_branches": list(q.default_branches),
            },
            totals=current_totals,
            previous_totals=previous_totals,
            trend=trend(current_totals, previous_totals),
            workflows=workflows,
            branch_classes=self._branch_classes(days),
            flaky_jobs=self._flaky(),
            slowest_by_p95=slow_by_p95,
            slowest_by_total=slow_by_total,
            daily=self._daily(),
        )

    def _jobs(self, days: float) -> dict[Key, list[JobSummary]]:
        stats = self._aggregate(JOBS, JOB, current_only=True)
        queues = self._aggregate(JOBS, JOB, "queue_ms", current_only=True)
        found: dict[Key, list[JobSummary]] = {}
        for key in stats.rows:
            metrics = stats.metrics(key, days)
            metrics.queue_metrics = queues.percentiles(key)
            name, kind = stats.label(key)
            found.setdefault(key[:3], []).append(JobSummary(key[3], name, kind, metrics))
        for summaries in found.values():
            summaries.sort(key=lambda j: (-(j.metrics.duration_metrics.p95 or 0), j.key))
        return found

    def _branch_classes(self, days: float) -> list[BranchClassSummary]:
        placeholders = [f":default{n}" for n in range(len(self.query.default_branches))]
        expression = sql.branch_class(placeholders)
        stats = self._aggregate(
            RUNS, ("class",), current_only=True, extra=f"{expression} AS class"
        )
        return [
            BranchClassSummary(name, stats.metrics((name,), days))
            for name in BRANCH_CLASSES if (name,) in stats.rows
        ]

    def _flaky(self) -> list[FlakyJob]:
        return [
            FlakyJob(
                repo=r[0], workflow_key=r[1], key=r[2], name=r[3], flaky_commits=int(r[4]),
                commits=int(r[5]), failures=int(r[6]), successes=int(r[7]),
                last_flake=ms_to_iso(int(r[8])) if r[8] is not None else None,
            )
            for r in self._rows(sql.flaky(self.where))
        ]

    def _slowest(self) -> tuple[list[SlowNode], list[SlowNode]]:
        stats = self._aggregate(LEAVES, ("repo", "workflow_key", "key"), current_only=True)
        nodes = []
        for key in stats.rows:
            spread = stats.distribution(key)
            name, kind = stats.label(key)
            nodes.append(SlowNode(
                repo=key[0], workflow_key=key[1], key=key[2], name=name, kind=kind,
                runs=spread.count, p95_ms=spread.p95, median_ms=spread.median,
                total_ms=spread.total,
            ))
        limit = self.query.limit
        by_p95 = sorted(nodes, key=lambda n: (-(n.p95_ms or 0), n.key))[:limit]
        by_total = sorted(nodes, key=lambda n: (-n.total_ms, n.key))[:limit]
        return by_p95, by_total

    def _daily(self) -> list[DayPoint]:
        stats = self._aggregate(RUNS, ("day",), current_only=True)
        queues = self._aggregate(RUNS_AND_JOBS, ("day",), "queue_ms", current_only=True)
        first = self.query.start_ms // sql.DAY_MS
        last = (self.query.end_ms - 1) // sql.DAY_MS
        points = []
        for day in range(first, last + 1):
            metrics = stats.metrics((day,), 1.0)
            queue = queues.percentiles((day,))
            points.append(DayPoint(
                date=ms_to_iso(day * sql.DAY_MS)[:10],
                total_runs=metrics.total_runs,
                successful_runs=metrics.successful_runs,
                failed_runs=metrics.failed_runs,
                success_rate=metrics.success_rate,
                duration_p50_ms=metrics.duration_metrics.median,
                duration_p95_ms=metrics.duration_metrics.p95,
                queue_p50_ms=queue.p50,
                queue_p95_ms=queue.p95,
            ))
        return points


def _recovered(metrics: Metrics, found: tuple[int, float] | None) -> None:
    if found is not None:
        metrics.total_recoveries, metrics.mttr_ms = found


def build_report(db: sqlite3.Connection, query: ReportQuery) -> Report:
    return ReportBuilder(db, query).build()


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before


def trend(now: Metrics, before: Metrics) -> Trend:
    return Trend(
        total_runs=_change(now.total_runs, before.total_runs),
        failed_runs=_change(now.failed_runs, before.failed_runs),
        success_rate=_change(now.success_rate, before.success_rate),
        throughput=_change(now.throughput, before.throughput),
        median_duration=_change(now.duration_metrics.median, before.duration_metrics.median),
        p95_duration=_change(now.duration_metrics.p95, before.duration_metrics.p95),
        mttr=_change(now.mttr_ms, before.mttr_ms),
    )


def _window(start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "start": ms_to_iso(start_ms), "end": ms_to_iso(end_ms),
        "days": round((end_ms - start_ms) / sql.DAY_MS, 4),
    }


def _filters(query: ReportQuery) -> tuple[str, dict[str, Any]]:
    """The WHERE clauses the user's filters add; skipped work never counts."""
    clauses = ["conclusion IS NOT 'SKIPPED'"]
    params: dict[str, Any] = {
        f"default{n}": name for n, name in enumerate(query.default_branches)
    }
    if query.repo:
        parts = query.repo.strip("/").split("/")
        params["repo"] = "/".join(parts[-2:])
        clauses.append("repo = :repo")
        if len(parts) > 2:
            params["host"] = "/".join(parts[:-2])
            clauses.append("host = :host")
    if query.branch:
        params["branch"] = query.branch
        clauses.append("branch = :branch")
    if query.platform:
        params["platform"] = query.platform
        clauses.append("platform = :platform")
    return "".join(f" AND {clause}" for clause in clauses), params
