"""Aggregated outcome rows and the arithmetic on them: metrics, trends, windows, filters.

Kept apart from the queries so each module stays small; nothing here touches SQLite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..times import ms_to_iso
from . import sql
from .model import Distribution, Metrics, ReportQuery, Trend


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Group:
    """One aggregated row of `sql.outcomes`."""

    total: int
    successful: int
    failed: int
    cancelled: int
    count: int
    low: float | None
    high: float | None
    mean: float | None
    mean_square: float | None
    sum: float
    queued: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> Group:
        return cls(
            int(row[0]),
            int(row[1]),
            int(row[2]),
            int(row[3]),
            int(row[4]),
            row[5],
            row[6],
            row[7],
            row[8],
            float(row[9]),
            int(row[10]),
        )

    def metrics(self, days: float) -> Metrics:
        decided = self.total - self.cancelled
        return Metrics(
            total_runs=self.total,
            successful_runs=self.successful,
            failed_runs=self.failed,
            cancelled_runs=self.cancelled,
            success_rate=self.successful / decided if decided else None,
            throughput=self.total / days if days else 0.0,
            duration_metrics=Distribution(
                count=self.count,
                min=self.low,
                mean=self.mean,
                max=self.high,
                standard_deviation=self.deviation,
                total=self.sum,
            ),
        )

    @property
    def deviation(self) -> float | None:
        if self.mean is None or self.mean_square is None:
            return None
        return math.sqrt(max(self.mean_square - self.mean * self.mean, 0.0))


def add_recoveries(metrics: Metrics, found: tuple[int, float] | None) -> None:
    if found is not None:
        metrics.total_recoveries, metrics.mttr_ms = found


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


def window(start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "start": ms_to_iso(start_ms),
        "end": ms_to_iso(end_ms),
        "days": round((end_ms - start_ms) / sql.DAY_MS, 4),
    }


def filters(query: ReportQuery) -> tuple[str, dict[str, Any]]:
    """The WHERE clauses the user's filters add; skipped work never counts."""
    clauses = ["conclusion IS NOT 'SKIPPED'"]
    params: dict[str, Any] = {f"default{n}": name for n, name in enumerate(query.default_branches)}
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
