"""``--format html``: one self-contained page (inline CSS, inline SVG, a few lines of JS).

No external asset of any kind, so the file can be attached to a ticket, archived as a CI
artifact or opened offline and look the same. The script only makes tables sortable;
the page is complete without it.
"""

from __future__ import annotations

from html import escape

from . import svg
from .format import change, duration, percent, rate
from .model import Metrics, Report, SlowNode, Trend
from .render_text import BRANCH_CLASS_LABELS

CSS = """
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
header { padding: 20px 32px; background: #1d2330; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #c9ced8; }
main { padding: 24px 32px; max-width: 1400px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; }
.kpi .value { font-size: 26px; font-weight: 600; }
.kpi .trend { font-size: 12px; color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(520px, 100%), 1fr));
          gap: 16px; margin: 20px 0; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
         padding: 12px; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); }
svg .tick, svg .legend, svg .value { font-size: 11px; fill: var(--muted); }
svg .line { stroke-width: 2.5; }
svg .empty { font-size: 14px; fill: var(--muted); }
section { margin: 24px 0; }
.scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
section, main, header { min-width: 0; }
header p { overflow-wrap: anywhere; }
/* A phone: less padding, two KPI cards a row, the tables scroll inside their box. */
@media (max-width: 600px) {
  header { padding: 14px 14px; }
  main { padding: 12px 12px; }
  .kpis { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .kpi { padding: 10px; }
  .kpi .value { font-size: 20px; }
  th, td { padding: 5px 8px; }
  th:first-child, td:first-child { min-width: 11em; }
}
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; background: var(--card);
        border: 1px solid var(--line); }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { background: #eef0f4; cursor: pointer; user-select: none; }
th:first-child, td:first-child, td.text { text-align: left; white-space: normal; }
tr.job td:first-child { padding-left: 28px; color: var(--muted); }
.good { color: #2e9e5b; } .warn { color: #b7791f; } .bad { color: #d64545; }
"""

SCRIPT = """
(function () {
  function cellValue(row, index) {
    var cell = row.children[index];
    var raw = cell ? cell.getAttribute('data-sort') : null;
    return raw === null ? (cell ? cell.textContent : '') : parseFloat(raw);
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (header, index) {
      header.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) {
          return !r.classList.contains('job');
        });
        var descending = header.getAttribute('data-order') !== 'desc';
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          var result = typeof x === 'number' && typeof y === 'number' ? x - y
            : String(x).localeCompare(String(y));
          return descending ? -result : result;
        });
        header.setAttribute('data-order', descending ? 'desc' : 'asc');
        rows.forEach(function (row) {
          body.appendChild(row);
          var next = row.getAttribute('data-jobs');
          if (next) {
            body.querySelectorAll('tr.job[data-parent="' + next + '"]').forEach(function (job) {
              body.appendChild(job);
            });
          }
        });
      });
    });
  });
  document.body.setAttribute('data-ready', 'true');
})();
"""


def render_html(report: Report) -> str:
    window = report.window
    filters = ", ".join(
        f"{k} {v}" for k, v in report.filters.items() if v and k != "default_branches"
    )
    subtitle = f"{window['start']} → {window['end']} ({window['days']:g} days)"
    if filters:
        subtitle += f" · {filters}"
    body = "\n".join(
        [
            _kpis(report.totals, report.trend),
            _charts(report),
            _workflows(report),
            _branch_classes(report),
            _flaky(report),
            _slowest(report),
        ]
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CI report · {escape(window["start"][:10])} to {escape(window["end"][:10])}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>CI report</h1><p>{escape(subtitle)} · generated {escape(report.generated_at)}</p>
</header>
<main>
{body}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _kpis(totals: Metrics, trend: Trend) -> str:
    cards = [
        ("Runs", str(totals.total_runs), change(trend.total_runs)),
        ("Success rate", percent(totals.success_rate), change(trend.success_rate)),
        ("Failed runs", str(totals.failed_runs), change(trend.failed_runs)),
        ("Mean duration", duration(totals.duration_metrics.mean), ""),
        ("MTTR", duration(totals.mttr_ms), change(trend.mttr)),
        ("Runs per day", rate(totals.throughput), change(trend.throughput)),
        ("Total CI time", duration(totals.duration_metrics.total), ""),
    ]
    html = "".join(
        f'<div class="kpi"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>'
        f'<div class="trend">{escape(moved + " vs previous window" if moved else " ")}</div></div>'
        for label, value, moved in cards
    )
    return f'<section class="kpis" id="kpis">{html}</section>'


def _charts(report: Report) -> str:
    days = [point.date for point in report.daily]
    figures = [
        (
            "Duration per day (p50 / p95)",
            svg.line_chart(
                "chart-duration",
                "Run duration p50 and p95 per day",
                days,
                [
                    svg.Series("p50", "#3b6fd8", [p.duration_p50_ms for p in report.daily]),
                    svg.Series("p95", "#d6843b", [p.duration_p95_ms for p in report.daily]),
                ],
                duration,
            ),
        ),
        (
            "Success rate per day",
            svg.rate_bars(
                "chart-success",
                "Success rate per day",
                days,
                [p.success_rate for p in report.daily],
                [p.total_runs for p in report.daily],
            ),
        ),
        (
            "Queue time per day (p50 / p95)",
            svg.line_chart(
                "chart-queue",
                "Queue time p50 and p95 per day",
                days,
                [
                    svg.Series("p50", "#7a5cc7", [p.queue_p50_ms for p in report.daily]),
                    svg.Series("p95", "#c75c9b", [p.queue_p95_ms for p in report.daily]),
                ],
                duration,
            ),
        ),
        (
            "Flaky jobs (commits with both a failure and a pass)",
            svg.ranked_bars(
                "chart-flaky",
                "Flaky jobs",
                [
                    (
                        job.name,
                        job.flaky_commits,
                        f"{job.key}: flaky on {job.flaky_commits} commits, "
                        f"{job.failures} failures / {job.successes} passes",
                    )
                    for job in report.flaky_jobs
                ],
                "#d64545",
            ),
        ),
    ]
    html = "".join(
        f"<figure><figcaption>{escape(caption)}</figcaption>{chart}</figure>"
        for caption, chart in figures
    )
    return f'<section class="charts">{html}</section>'


HEADERS = (
    "Runs",
    "Success",
    "Failed",
    "p50",
    "Mean",
    "p95",
    "Max",
    "Std dev",
    "Queue p50",
    "Queue p95",
    "Runs/day",
    "MTTR",
)


def _cells(metrics: Metrics) -> str:
    spread, queue = metrics.duration_metrics, metrics.queue_metrics
    values: list[tuple[str, float | None]] = [
        (str(metrics.total_runs), metrics.total_runs),
        (percent(metrics.success_rate), metrics.success_rate),
        (str(metrics.failed_runs), metrics.failed_runs),
        (duration(spread.median), spread.median),
        (duration(spread.mean), spread.mean),
        (duration(spread.p95), spread.p95),
        (duration(spread.max), spread.max),
        (duration(spread.standard_deviation), spread.standard_deviation),
        (duration(queue.p50), queue.p50),
        (duration(queue.p95), queue.p95),
        (rate(metrics.throughput), metrics.throughput),
        (duration(metrics.mttr_ms), metrics.mttr_ms),
    ]
    cells = []
    for index, (text, number) in enumerate(values):
        css = ""
        if index == 1 and metrics.success_rate is not None:
            css = (
                ' class="good"'
                if number is not None and number >= 0.9
                else (' class="warn"' if number is not None and number >= 0.7 else ' class="bad"')
            )
        sort = f' data-sort="{number}"' if number is not None else ' data-sort="-1"'
        cells.append(f"<td{css}{sort}>{escape(text)}</td>")
    return "".join(cells)


def _table(table_id: str, first: str, rows: list[str], extra: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in (first, *HEADERS, *extra))
    return (
        f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _workflows(report: Report) -> str:
    rows = []
    for index, workflow in enumerate(report.workflows):
        title = (
            workflow.name
            if workflow.name == workflow.key
            else (f"{workflow.name} · {workflow.key}")
        )
        trend = " / ".join(
            change(x) or "new"
            for x in (
                workflow.trend.total_runs,
                workflow.trend.success_rate,
                workflow.trend.p95_duration,
            )
        )
        rows.append(
            f'<tr data-jobs="w{index}"><td><b>{escape(title)}</b><br>'
            f"<small>{escape(workflow.repo)} · {escape(workflow.platform)}</small></td>"
            f'{_cells(workflow.metrics)}<td class="text">{escape(trend)}</td></tr>'
        )
        for job in workflow.jobs:
            rows.append(
                f'<tr class="job" data-parent="w{index}"><td>{escape(job.name)}</td>'
                f"{_cells(job.metrics)}<td></td></tr>"
            )
    if not rows:
        return "<section><h2>Workflows and pipelines</h2><p>No finished runs.</p></section>"
    table = _table(
        "workflows", "Workflow / pipeline, then its jobs", rows, ("Trend runs / success / p95",)
    )
    return f'<section><h2>Workflows and pipelines</h2><div class="scroll">{table}</div></section>'


def _branch_classes(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(BRANCH_CLASS_LABELS[found.branch_class])}</td>"
        f'<td data-sort="{m.total_runs}">{m.total_runs}</td>'
        f'<td data-sort="{m.success_rate or 0}">{percent(m.success_rate)}</td>'
        f'<td data-sort="{m.failed_runs}">{m.failed_runs}</td>'
        f'<td data-sort="{m.duration_metrics.mean or 0}">{duration(m.duration_metrics.mean)}</td>'
        f'<td data-sort="{m.throughput}">{rate(m.throughput)}</td></tr>'
        for found in report.branch_classes
        for m in (found.metrics,)
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("Class", "Runs", "Success", "Failed", "Mean duration", "Runs/day")
    )
    return (
        '<section><h2>Branch classes</h2><div class="scroll">'
        '<table id="branch-classes" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _flaky(report: Report) -> str:
    if not report.flaky_jobs:
        return (
            "<section><h2>Flaky jobs</h2><p>No job failed and passed on one commit.</p></section>"
        )
    rows = "".join(
        f"<tr><td>{escape(job.name)}<br><small>{escape(job.workflow_key)}</small></td>"
        f'<td data-sort="{job.flaky_commits}">{job.flaky_commits}</td>'
        f'<td data-sort="{job.failures}">{job.failures}</td>'
        f'<td data-sort="{job.successes}">{job.successes}</td>'
        f'<td class="text">{escape(job.last_flake or "—")}</td></tr>'
        for job in report.flaky_jobs
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("Job", "Flaky commits", "Failures", "Passes", "Last flake")
    )
    return (
        '<section><h2>Flaky jobs</h2><div class="scroll">'
        f'<table id="flaky" class="sortable"><thead><tr>{head}'
        f"</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _slowest(report: Report) -> str:
    def table(table_id: str, nodes: list[SlowNode]) -> str:
        rows = "".join(
            f"<tr><td>{escape(node.name)}<br><small>{escape(node.key)}</small></td>"
            f'<td data-sort="{node.runs}">{node.runs}</td>'
            f'<td data-sort="{node.median_ms or 0}">{escape(duration(node.median_ms))}</td>'
            f'<td data-sort="{node.p95_ms or 0}">{escape(duration(node.p95_ms))}</td>'
            f'<td data-sort="{node.total_ms}">{escape(duration(node.total_ms))}</td></tr>'
            for node in nodes
        )
        head = "".join(f"<th>{h}</th>" for h in ("Step / stage", "Runs", "p50", "p95", "Total"))
        return (
            f'<div class="scroll"><table id="{table_id}" class="sortable"><thead><tr>{head}'
            f"</tr></thead><tbody>{rows}</tbody></table></div>"
        )

    return (
        "<section><h2>Slowest steps and stages, by p95</h2>"
        f"{table('slowest-p95', report.slowest_by_p95)}</section>"
        "<section><h2>Where the time goes: steps and stages by total time</h2>"
        f"{table('slowest-total', report.slowest_by_total)}</section>"
    )
