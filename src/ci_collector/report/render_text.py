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
    console.print(_headline(report.totals, report.trend, width))
    if not report.workflows:
        console.print("No finished runs in this window.")
        return buffer.getvalue()
    shown = _metrics_for(width)
    console.print(_workflows(report, shown, width))
    for workflow in report.workflows:
        if workflow.jobs:
            console.print(_jobs(workflow, shown))
    console.print(_branch_classes(report))
    if report.flaky_jobs:
        console.print(_flaky(report, width))
    if report.slowest_by_p95:
        console.print(_slowest(report))
    return buffer.getvalue()


def _filters(report: Report) -> str:
    shown = [escape(f"{k}={v}") for k, v in report.filters.items() if v and k != "default_branches"]
    return f"  [dim]{' '.join(shown)}[/dim]" if shown else ""


def _headline(totals: Metrics, trend: Trend, width: int) -> str:
    spread = totals.duration_metrics
    first = (
        f"{totals.total_runs} runs {change(trend.total_runs)}  ·  "
        f"success {percent(totals.success_rate)} {change(trend.success_rate)}  ·  "
        f"{totals.failed_runs} failed  ·  mean {duration(spread.mean)}"
    )
    second = (
        f"total {duration(spread.total)}  ·  MTTR {duration(totals.mttr_ms)}  ·  "
        f"{rate(totals.throughput)} runs/day"
    )
    # Break where a reader would, not wherever the terminal ends.
    return f"{first}  ·  {second}" if width >= MEDIUM else f"{first}\n{second}"


# Metric columns by terminal width: every column of a row stays on one line, and the
# narrower the terminal, the fewer columns (the headline keeps the totals).
_ALL_METRICS = (
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
)
_MEDIUM_METRICS = ("Runs", "Success", "Failed", "p50", "p95", "Max", "Queue p50", "Runs/day")
_NARROW_METRICS = ("Runs", "Success", "Failed", "p50", "p95")
WIDE, MEDIUM = 170, 110


def _metrics_for(width: int) -> tuple[str, ...]:
    return (
        _ALL_METRICS if width >= WIDE else _MEDIUM_METRICS if width >= MEDIUM else _NARROW_METRICS
    )


def _metric_columns(table: Table, shown: tuple[str, ...]) -> None:
    for title in shown:
        table.add_column(title, justify="right", no_wrap=True)


def _metric_cells(metrics: Metrics, shown: tuple[str, ...]) -> list[str]:
    spread, queue = metrics.duration_metrics, metrics.queue_metrics
    cells = {
        "Runs": str(metrics.total_runs),
        "Success": percent(metrics.success_rate),
        "Failed": str(metrics.failed_runs),
        "Min": duration(spread.min),
        "p50": duration(spread.median),
        "Mean": duration(spread.mean),
        "p95": duration(spread.p95),
        "Max": duration(spread.max),
        "Std dev": duration(spread.standard_deviation),
        "Queue p50": duration(queue.p50),
        "Queue p95": duration(queue.p95),
        "Runs/day": rate(metrics.throughput),
    }
    return [cells[title] for title in shown]


def _workflows(report: Report, shown: tuple[str, ...], width: int) -> Table:
    table = Table(title="Workflows and pipelines", title_justify="left")
    table.add_column("Workflow / pipeline", overflow="fold", min_width=20)
    _metric_columns(table, shown)
    extras: tuple[str, ...] = ("MTTR", "Trend (runs / success / p95)") if width >= WIDE else ()
    extras = ("MTTR",) if MEDIUM <= width < WIDE else extras
    for title in extras:
        table.add_column(title, justify="right", no_wrap=True)
    for workflow in report.workflows:
        trend = workflow.trend
        name, key, repo = escape(workflow.name), escape(workflow.key), escape(workflow.repo)
        title = name if workflow.name == workflow.key else f"{name}\n[dim]{key}[/dim]"
        cells = [
            duration(workflow.metrics.mttr_ms),
            " / ".join(
                change(x) or "new"
                for x in (trend.total_runs, trend.success_rate, trend.p95_duration)
            ),
        ]
        table.add_row(
            f"{title}\n[dim]{repo}[/dim]",
            *_metric_cells(workflow.metrics, shown),
            *cells[: len(extras)],
        )
    return table


def _jobs(workflow: WorkflowSummary, shown: tuple[str, ...]) -> Table:
    title = escape(f"Jobs / stages of {workflow.name or workflow.key} ({workflow.repo})")
    table = Table(title=title, title_justify="left")
    table.add_column("Job / stage", overflow="fold", min_width=16)
    _metric_columns(table, shown)
    for job in workflow.jobs:
        table.add_row(escape(job.name), *_metric_cells(job.metrics, shown))
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


def _flaky(report: Report, width: int) -> Table:
    table = Table(title="Flaky jobs (failed and passed on the same commit)", title_justify="left")
    for title, justify in (
        ("Job", "left"),
        ("Workflow", "left"),
        ("Flaky commits" if width >= MEDIUM else "Commits", "right"),
        ("Failures", "right"),
        ("Passes", "right"),
        ("Last flake", "left"),
    ):
        table.add_column(  # names fold inside their cell; counts and dates never break
            title,
            justify=justify,  # type: ignore[arg-type]
            overflow="fold",
            no_wrap=title not in ("Job", "Workflow"),
        )
    for job in report.flaky_jobs:
        table.add_row(
            escape(job.name),
            escape(job.workflow_key),
            str(job.flaky_commits),
            str(job.failures),
            str(job.successes),
            (job.last_flake or "—")[: 10 if width < MEDIUM else None],  # the day, if narrow
        )
    return table


def _slowest(report: Report) -> Table:
    table = Table(title="Slowest steps / stages", title_justify="left")
    table.add_column("By p95", overflow="fold")
    table.add_column("p95", justify="right", no_wrap=True)
    table.add_column("By total time", overflow="fold")
    table.add_column("Total", justify="right", no_wrap=True)
    for fast, total in zip(report.slowest_by_p95, report.slowest_by_total, strict=False):
        table.add_row(
            escape(fast.key), duration(fast.p95_ms), escape(total.key), duration(total.total_ms)
        )
    return table
