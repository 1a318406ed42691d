"""Run the report's SQL against a store and assemble the `Report`.

Python only reshapes aggregated rows (one per workflow, job, step, day or class) and asks
SQLite for each group's percentiles; it never iterates over runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from ..times import ms_to_iso
from . import sql
from .groups import Group, Span, add_recoveries, filters, trend, window
from .model import (
    BranchClassSummary,
    DayPoint,
    FlakyJob,
    JobSummary,
    Metrics,
    Percentiles,
    Report,
    ReportQuery,
    SlowNode,
    WorkflowSummary,
)

Key = tuple[Any, ...]
RUNS = "depth = 0"
JOBS = "depth = 1"
LEAVES = "leaf = 1"
BRANCH_CLASSES = ("default_branch", "pull_request", "merge_queue", "bot", "other")


class ReportBuilder:
    def __init__(self, db: sqlite3.Connection, query: ReportQuery) -> None:
        self.db = db
        self.query = query
        self.where, self.params = filters(query)
        self.params["limit"] = query.limit
        self.current = Span(query.start_ms, query.end_ms)
        self.previous = Span(query.previous_start_ms, query.start_ms)

    # ---- building blocks ------------------------------------------------------------

    def _execute(self, statement: str, span: Span, **extra: Any) -> list[Any]:
        params = {**self.params, "start": span.start, "end": span.end, **extra}
        return self.db.execute(statement, params).fetchall()

    def _groups(
        self, level: str, groups: Sequence[str], span: Span, index: str = sql.BY_DURATION
    ) -> dict[Key, Group]:
        rows = self._execute(sql.outcomes(level, groups, self.where, index), span)
        width = len(groups)
        return {tuple(row[:width]): Group.of(row[width:]) for row in rows if row[width]}

    def _ranks(
        self, index: str, value: str, level: str, equal: dict[str, Any], count: int, span: Span
    ) -> tuple[float | None, float | None]:
        """(median, p95) of one group's `value`, from two ordered index walks."""
        if count <= 0:
            return None, None
        statement = sql.nth(index, value, level, list(equal), self.where)
        bound = {f"g_{column}": found for column, found in equal.items()}
        middle = self._execute(statement, span, take=2 - count % 2, skip=(count - 1) // 2, **bound)
        top = self._execute(statement, span, take=1, skip=(95 * count + 99) // 100 - 1, **bound)
        median = sum(value for (value,) in middle) / len(middle) if middle else None
        return median, top[0][0] if top else None

    def _label(self, level: str, repo: str, key: str) -> tuple[str, str, str]:
        rows = self._execute(sql.label(level), self.current, g_repo=repo, g_sequence_key=key)
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else (key, "", key)

    def _summarise(
        self, level: str, repo: str, key: str, group: Group, span: Span, depth: int | None = None
    ) -> Metrics:
        metrics = group.metrics(self.query.days)
        equal: dict[str, Any] = {"repo": repo, "sequence_key": key}
        if depth is not None:
            equal = {"depth": depth, **equal}
        spread = metrics.duration_metrics
        spread.median, spread.p95 = self._ranks(
            sql.BY_DURATION, "duration_ms", level, equal, group.count, span
        )
        if span is self.current:
            p50, p95 = self._ranks(sql.BY_QUEUE, "queue_ms", level, equal, group.queued, span)
            metrics.queue_metrics = Percentiles(group.queued, p50, p95)
        return metrics

    def _recoveries(self, span: Span) -> dict[Key, tuple[int, float]]:
        rows = self._execute(sql.recoveries(RUNS, self.where), span)
        return {(r[0], r[1]): (int(r[2]), float(r[3])) for r in rows}

    # ---- the report -----------------------------------------------------------------

    def build(self, side: ReportBuilder | None = None) -> Report:
        """Build the report; `side`, a builder on a second connection, takes the flaky
        and slowest lists in a thread meanwhile (SQLite runs without the GIL)."""
        q = self.query
        with ThreadPoolExecutor(max_workers=1) as pool:
            flaky = pool.submit(side._flaky) if side else None
            slowest = pool.submit(side._slowest) if side else None
            workflows = self._workflows()
            classes = self._branch_classes()
            daily = self._daily()
            flaky_jobs = flaky.result() if flaky else self._flaky()
            by_p95, by_total = slowest.result() if slowest else self._slowest()
        totals = self._totals(self.current, workflows, lambda w: w.metrics)
        previous = self._totals(self.previous, workflows, lambda w: w.previous)
        return Report(
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            window=window(q.start_ms, q.end_ms),
            previous_window=window(q.previous_start_ms, q.start_ms),
            filters={
                "repo": q.repo,
                "branch": q.branch,
                "platform": q.platform,
                "default_branches": list(q.default_branches),
            },
            totals=totals,
            previous_totals=previous,
            trend=trend(totals, previous),
            workflows=workflows,
            branch_classes=classes,
            flaky_jobs=flaky_jobs,
            slowest_by_p95=by_p95,
            slowest_by_total=by_total,
            daily=daily,
        )

    def _workflows(self) -> list[WorkflowSummary]:
        current = self._groups(RUNS, ("repo", "sequence_key"), self.current)
        before = self._groups(RUNS, ("repo", "sequence_key"), self.previous)
        recovered = self._recoveries(self.current)
        recovered_before = self._recoveries(self.previous)
        jobs = self._jobs()
        found = []
        for (repo, key), group in current.items():
            metrics = self._summarise(RUNS, repo, key, group, self.current)
            add_recoveries(metrics, recovered.get((repo, key)))
            old = before.get((repo, key))
            previous = self._summarise(RUNS, repo, key, old, self.previous) if old else Metrics()
            add_recoveries(previous, recovered_before.get((repo, key)))
            name, kind, _ = self._label(RUNS, repo, key)
            platform = self._platform(repo, key)
            found.append(
                WorkflowSummary(
                    repo=repo,
                    platform=platform,
                    key=key,
                    name=name,
                    kind=kind,
                    metrics=metrics,
                    previous=previous,
                    trend=trend(metrics, previous),
                    jobs=jobs.get((repo, key), []),
                )
            )
        found.sort(key=lambda w: (-w.metrics.total_runs, w.repo, w.key))
        return found

    def _platform(self, repo: str, key: str) -> str:
        rows = self._execute(
            f"SELECT platform FROM events INDEXED BY {sql.BY_DURATION} "  # noqa: S608
            "WHERE depth = 0 AND repo = :g_repo AND sequence_key = :g_key LIMIT 1",
            self.current,
            g_repo=repo,
            g_key=key,
        )
        return str(rows[0][0]) if rows else ""

    def _totals(self, span: Span, workflows: list[WorkflowSummary], pick: Any) -> Metrics:
        """All workflows together: counts and moments (percentiles across different
        workflows mean little, and CircleCI does not give them either)."""
        group = self._groups(RUNS, (), span, sql.BY_DAY).get(())
        if group is None:
            return Metrics()
        metrics = group.metrics(self.query.days)
        recoveries = [pick(w) for w in workflows if pick(w).total_recoveries]
        count = sum(m.total_recoveries for m in recoveries)
        if count:
            metrics.total_recoveries = count
            metrics.mttr_ms = sum(m.total_recoveries * m.mttr_ms for m in recoveries) / count
        return metrics

    def _jobs(self) -> dict[Key, list[JobSummary]]:
        found: dict[Key, list[JobSummary]] = {}
        groups = self._groups(JOBS, ("repo", "sequence_key"), self.current)
        for (repo, key), group in groups.items():
            metrics = self._summarise(JOBS, repo, key, group, self.current)
            name, kind, workflow = self._label(JOBS, repo, key)
            found.setdefault((repo, workflow), []).append(JobSummary(key, name, kind, metrics))
        for summaries in found.values():
            summaries.sort(key=lambda j: (-(j.metrics.duration_metrics.p95 or 0), j.key))
        return found

    def _branch_classes(self) -> list[BranchClassSummary]:
        placeholders = [f":default{n}" for n in range(len(self.query.default_branches))]
        groups = self._groups(RUNS, (sql.branch_class(placeholders),), self.current, sql.BY_DAY)
        return [
            BranchClassSummary(name, groups[(name,)].metrics(self.query.days))
            for name in BRANCH_CLASSES
            if (name,) in groups
        ]

    def _flaky(self) -> list[FlakyJob]:
        found = []
        for row in self._execute(sql.flaky(self.where), self.current):
            name, _, workflow = self._label(JOBS, row[0], row[1])
            found.append(
                FlakyJob(
                    repo=row[0],
                    workflow_key=workflow,
                    key=row[1],
                    name=name,
                    flaky_commits=int(row[2]),
                    failures=int(row[3]),
                    successes=int(row[4]),
                    last_flake=ms_to_iso(int(row[5])) if row[5] is not None else None,
                )
            )
        return found

    def _slowest(self) -> tuple[list[SlowNode], list[SlowNode]]:
        groups = self._groups(LEAVES, ("depth", "repo", "sequence_key"), self.current)
        nodes = []
        for (depth, repo, key), group in groups.items():
            median, p95 = self._ranks(
                sql.BY_DURATION,
                "duration_ms",
                LEAVES,
                {"depth": depth, "repo": repo, "sequence_key": key},
                group.count,
                self.current,
            )
            nodes.append(
                SlowNode(
                    repo=repo,
                    workflow_key="",
                    key=key,
                    name="",
                    kind="",
                    runs=group.total,
                    p95_ms=p95,
                    median_ms=median,
                    total_ms=group.sum,
                )
            )
        limit = self.query.limit
        by_p95 = sorted(nodes, key=lambda n: (-(n.p95_ms or 0), n.key))[:limit]
        by_total = sorted(nodes, key=lambda n: (-n.total_ms, n.key))[:limit]
        for node in {id(n): n for n in by_p95 + by_total}.values():
            node.name, node.kind, node.workflow_key = self._label(LEAVES, node.repo, node.key)
        return by_p95, by_total

    def _daily(self) -> list[DayPoint]:
        groups = self._groups(RUNS, ("day",), self.current, sql.BY_DAY)
        points = []
        first = self.query.start_ms // sql.DAY_MS
        last = (self.query.end_ms - 1) // sql.DAY_MS
        for day in range(first, last + 1):
            group = groups.get((day,))
            metrics = group.metrics(1.0) if group else Metrics()
            duration: tuple[float | None, float | None] = (None, None)
            queue: tuple[float | None, float | None] = (None, None)
            if group:
                equal = {"depth": 0, "day": day}
                duration = self._ranks(
                    sql.BY_DAY, "duration_ms", RUNS, equal, group.count, self.current
                )
                queue = self._ranks(
                    sql.BY_DAY_QUEUE, "queue_ms", RUNS, equal, group.queued, self.current
                )
            points.append(
                DayPoint(
                    date=ms_to_iso(day * sql.DAY_MS)[:10],
                    total_runs=metrics.total_runs,
                    successful_runs=metrics.successful_runs,
                    failed_runs=metrics.failed_runs,
                    success_rate=metrics.success_rate,
                    duration_p50_ms=duration[0],
                    duration_p95_ms=duration[1],
                    queue_p50_ms=queue[0],
                    queue_p95_ms=queue[1],
                )
            )
        return points


def build_report(
    db: sqlite3.Connection, query: ReportQuery, second: sqlite3.Connection | None = None
) -> Report:
    """The report over `db`; with a `second` connection to the same file, in parallel."""
    side = ReportBuilder(second, query) if second is not None else None
    return ReportBuilder(db, query).build(side)
