"""The terminal rendering: a few rich tables, widest-impact rows first."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from ..terminal import printable
from .format import change, duration, percent, rate
from .model import Metrics, Report, Trend, WorkflowSummary

BRANCH_CLASS_LABELS = {
    "default_branch": "default branch",
    "pull_request": "pull requests",
    "merge_queue": "merge queue",
    "bot": "bots",
    "other": "other branches",
}


def escape(text: str) -> str:
    """A platform's name as inert text: no rich markup, no terminal control characters."""
    return escape_markup(printable(text))


def render_text(report: Report, width: int = 160, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False
    )
    window = report.window
    console.print(
        f"[bold]CI report[/bold] {window['start']} → {window['end']} ({window['days']:g} days)"
        + _filters(report)
    )
    console.print(_headline(report.totals, report.trend))
    if not report.workflows:
        console.print("No finished runs in this window.")
        return buffer.getvalue()
    console.print(_workflows(report))
    for workflow in report.workflows:
        if workflow.jobs:
            console.print(_jobs(workflow))
    console.print(_branch_classes(report))
    if report.flaky_jobs:
        console.print(_flaky(report))
    if report.slowest_by_p95:
        console.print(_slowest(report))
    return buffer.getvalue()


def _filters(report: Report) -> str:
    shown = [escape(f"{k}={v}") for k, v in report.filters.items() if v and k != "default_branches"]
    return f"  [dim]{' '.join(shown)}[/dim]" if shown else ""


def _headline(totals: Metrics, trend: Trend) -> str:
    spread = totals.duration_metrics
    return (
        f"{totals.total_runs} runs {change(trend.total_runs)}  ·  "
        f"success {percent(totals.success_rate)} {change(trend.success_rate)}  ·  "
        f"{totals.failed_runs} failed  ·  mean {duration(spread.mean)}  ·  "
        f"total {duration(spread.total)}  ·  MTTR {duration(totals.mttr_ms)}  ·  "
        f"{rate(totals.throughput)} runs/day"
    )


def _metric_columns(table: Table) -> None:
    for title in (
        "Runs",
        "Success",
        "Failed",
        "Min",
        "p50",
        "Mean",
        "p95",
        "Max",
        "Std dev",
        "Queue p50",
        "Queue p95",
        "Runs/day",
    ):
        table.add_column(title, justify="right")


def _metric_cells(metrics: Metrics) -> list[str]:
    spread, queue = metrics.duration_metrics, metrics.queue_metrics
    return [
        str(metrics.total_runs),
        percent(metrics.success_rate),
        str(metrics.failed_runs),
        duration(spread.min),
        duration(spread.median),
        duration(spread.mean),
        duration(spread.p95),
        duration(spread.max),
        duration(spread.standard_deviation),
        duration(queue.p50),
        duration(queue.p95),
        rate(metrics.throughput),
    ]


def _workflows(report: Report) -> Table:
    table = Table(title="Workflows and pipelines", title_justify="left")
    table.add_column("Workflow / pipeline", overflow="fold", min_width=24)
    _metric_columns(table)
    table.add_column("MTTR", justify="right")
    table.add_column("Trend (runs / success / p95)", justify="right")
    for workflow in report.workflows:
        trend = workflow.trend
        name, key, repo = escape(workflow.name), escape(workflow.key), escape(workflow.repo)
        title = name if workflow.name == workflow.key else f"{name}\n[dim]{key}[/dim]"
        table.add_row(
            f"{title}\n[dim]{repo}[/dim]",
            *_metric_cells(workflow.metrics),
            duration(workflow.metrics.mttr_ms),
            " / ".join(
                change(x) or "new"
                for x in (trend.total_runs, trend.success_rate, trend.p95_duration)
            ),
        )
    return table


def _jobs(workflow: WorkflowSummary) -> Table:
    title = escape(f"Jobs / stages of {workflow.name or workflow.key} ({workflow.repo})")
    table = Table(title=title, title_justify="left")
    table.add_column("Job / stage", overflow="fold")
    _metric_columns(table)
    for job in workflow.jobs:
        table.add_row(escape(job.name), *_metric_cells(job.metrics))
    return table


def _branch_classes(report: Report) -> Table:
    table = Table(title="Branch classes", title_justify="left")
    table.add_column("Class")
    for title in ("Runs", "Success", "Failed", "Mean", "Runs/day"):
        table.add_column(title, justify="right")
    for found in report.branch_classes:
        m = found.metrics
        table.add_row(
            BRANCH_CLASS_LABELS[found.branch_class],
            str(m.total_runs),
            percent(m.success_rate),
            str(m.failed_runs),
            duration(m.duration_metrics.mean),
            rate(m.throughput),
        )
    return table


def _flaky(report: Report) -> Table:
    table = Table(title="Flaky jobs (failed and passed on the same commit)", title_justify="left")
    for title, justify in (
        ("Job", "left"),
        ("Workflow", "left"),
        ("Flaky commits", "right"),
        ("Failures", "right"),
        ("Passes", "right"),
        ("Last flake", "left"),
    ):
        table.add_column(title, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for job in report.flaky_jobs:
        table.add_row(
            escape(job.name),
            escape(job.workflow_key),
            str(job.flaky_commits),
            str(job.failures),
            str(job.successes),
            job.last_flake or "—",
        )
    return table


def _slowest(report: Report) -> Table:
    table = Table(title="Slowest steps / stages", title_justify="left")
    table.add_column("By p95", overflow="fold")
    table.add_column("p95", justify="right")
    table.add_column("By total time", overflow="fold")
    table.add_column("Total", justify="right")
    for fast, total in zip(report.slowest_by_p95, report.slowest_by_total, strict=False):
        table.add_row(
            escape(fast.key), duration(fast.p95_ms), escape(total.key), duration(total.total_ms)
        )
    return table
