"""The report's results: plain dataclasses, serialised as they are for ``--format json``.

Field names follow CircleCI Insights' API (``total_runs``, ``success_rate``,
``duration_metrics``...) so the two can be compared side by side; durations are in
milliseconds (``_ms``) because that is what the events carry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What to report on: a window ``[start_ms, end_ms)`` and optional filters."""

    start_ms: int
    end_ms: int
    repo: str | None = None
    branch: str | None = None
    platform: str | None = None
    default_branches: tuple[str, ...] = ("main", "master")
    limit: int = 10

    @property
    def days(self) -> float:
        return (self.end_ms - self.start_ms) / 86_400_000

    @property
    def previous_start_ms(self) -> int:
        """The previous window has the same length and ends where this one starts."""
        return 2 * self.start_ms - self.end_ms


@dataclass(slots=True)
class Distribution:
    """min / median / mean / p95 / max / population standard deviation of a value."""

    count: int = 0
    min: float | None = None
    median: float | None = None
    mean: float | None = None
    p95: float | None = None
    max: float | None = None
    standard_deviation: float | None = None
    total: float = 0


@dataclass(slots=True)
class Percentiles:
    count: int = 0
    p50: float | None = None
    p95: float | None = None


@dataclass(slots=True)
class Metrics:
    total_runs: int = 0
    successful_runs: int = 0
    failed_runs: int = 0
    cancelled_runs: int = 0
    success_rate: float | None = None
    throughput: float = 0.0
    mttr_ms: float | None = None
    total_recoveries: int = 0
    duration_metrics: Distribution = field(default_factory=Distribution)
    queue_metrics: Percentiles = field(default_factory=Percentiles)


@dataclass(slots=True)
class Trend:
    """Relative change against the previous window: ``(now - before) / before``.

    None when the previous window had nothing to compare with.
    """

    total_runs: float | None = None
    failed_runs: float | None = None
    success_rate: float | None = None
    throughput: float | None = None
    median_duration: float | None = None
    p95_duration: float | None = None
    mttr: float | None = None


@dataclass(slots=True)
class JobSummary:
    key: str
    name: str
    kind: str
    metrics: Metrics


@dataclass(slots=True)
class WorkflowSummary:
    repo: str
    platform: str
    key: str
    name: str
    kind: str
    metrics: Metrics
    previous: Metrics
    trend: Trend
    jobs: list[JobSummary] = field(default_factory=list)


@dataclass(slots=True)
class BranchClassSummary:
    branch_class: str
    metrics: Metrics


@dataclass(slots=True)
class FlakyJob:
    repo: str
    workflow_key: str
    key: str
    name: str
    flaky_commits: int
    failures: int
    successes: int
    last_flake: str | None


@dataclass(slots=True)
class SlowNode:
    repo: str
    workflow_key: str
    key: str
    name: str
    kind: str
    runs: int
    p95_ms: float | None
    median_ms: float | None
    total_ms: float


@dataclass(slots=True)
class DayPoint:
    date: str
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float | None
    duration_p50_ms: float | None
    duration_p95_ms: float | None
    queue_p50_ms: float | None
    queue_p95_ms: float | None


@dataclass(slots=True)
class Report:
    generated_at: str
    window: dict[str, Any]
    previous_window: dict[str, Any]
    filters: dict[str, Any]
    totals: Metrics
    previous_totals: Metrics
    trend: Trend
    workflows: list[WorkflowSummary]
    branch_classes: list[BranchClassSummary]
    flaky_jobs: list[FlakyJob]
    slowest_by_p95: list[SlowNode]
    slowest_by_total: list[SlowNode]
    daily: list[DayPoint]
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
