"""Metric definitions, checked on histories small enough to compute by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.report.history import DAY, C, History, Job


def test_percentiles_with_an_even_count(tmp_path: Path) -> None:
    history = History()
    for n, seconds in enumerate([4, 1, 3, 2]):
        history.run(n * 600, seconds)
    spread = history.report(tmp_path / "s.sqlite").workflows[0].metrics.duration_metrics
    assert (spread.count, spread.min, spread.max) == (4, 1000, 4000)
    assert spread.median == 2500  # mean of the two middle values
    assert spread.p95 == 4000  # nearest rank: ceil(0.95 * 4) = 4th value
    assert spread.mean == 2500
    assert spread.standard_deviation == pytest.approx(math.sqrt(1.25) * 1000)  # population


@pytest.mark.parametrize(("count", "median", "p95"), [(20, 10.5, 19), (21, 11, 20), (1, 1, 1)])
def test_nearest_rank_p95(tmp_path: Path, count: int, median: float, p95: float) -> None:
    history = History()
    for n in range(count, 0, -1):
        history.run(n * 600, n)
    spread = history.report(tmp_path / "s.sqlite").workflows[0].metrics.duration_metrics
    assert (spread.median, spread.p95) == (median * 1000, p95 * 1000)


def test_success_rate_leaves_out_cancelled_and_skipped_runs(tmp_path: Path) -> None:
    history = History()
    for n, conclusion in enumerate(
        [C.SUCCESS, C.SUCCESS, C.FAILURE, C.TIMED_OUT, C.CANCELLED, C.SKIPPED]
    ):
        history.run(n * 600, 10, conclusion)
    metrics = history.report(tmp_path / "s.sqlite", days=2, end_s=2 * 86_400).workflows[0].metrics
    assert metrics.total_runs == 5  # the skipped run never ran
    assert (metrics.successful_runs, metrics.failed_runs, metrics.cancelled_runs) == (2, 2, 1)
    assert metrics.success_rate == pytest.approx(2 / 4)
    assert metrics.throughput == pytest.approx(5 / 2)  # runs per day of the window


def test_mttr_is_per_branch(tmp_path: Path) -> None:
    history = History()
    history.run(0, 100, C.FAILURE, branch="main")  # main red from t=100
    history.run(200, 50, C.SUCCESS, branch="feature")  # green elsewhere: no recovery
    history.run(300, 50, C.FAILURE, branch="main")  # still red
    history.run(360, 10, C.CANCELLED, branch="main")  # neither breaks nor fixes
    history.run(400, 100, C.SUCCESS, branch="main")  # green at t=500: 400 s after 100
    history.run(600, 100, C.FAILURE, branch="feature")  # feature red from t=700
    history.run(800, 100, C.SUCCESS, branch="feature")  # green at t=900: 200 s
    history.run(1000, 10, C.SUCCESS, branch="feature")  # green after green: nothing
    report = history.report(tmp_path / "s.sqlite")
    metrics = report.workflows[0].metrics
    assert metrics.total_recoveries == 2
    assert metrics.mttr_ms == pytest.approx((400_000 + 200_000) / 2)
    assert report.totals.mttr_ms == metrics.mttr_ms


def test_mttr_never_mixes_workflows(tmp_path: Path) -> None:
    history = History()
    history.run(0, 100, C.FAILURE, workflow="a.yml")
    history.run(200, 100, C.SUCCESS, workflow="b.yml")
    report = history.report(tmp_path / "s.sqlite")
    assert report.totals.mttr_ms is None
    assert all(w.metrics.total_recoveries == 0 for w in report.workflows)


def test_a_window_with_no_runs(tmp_path: Path) -> None:
    history = History()
    history.run(0, 100)
    report = history.report(tmp_path / "s.sqlite", days=7, end_s=90 * 86_400)
    assert report.workflows == [] and report.flaky_jobs == [] and report.slowest_by_p95 == []
    assert report.totals.total_runs == 0 and report.totals.success_rate is None
    assert len(report.daily) == 7
    assert all(day.total_runs == 0 and day.duration_p95_ms is None for day in report.daily)


def test_trend_against_the_previous_window(tmp_path: Path) -> None:
    history = History()
    for n in range(2):  # previous window: days 0-9, 10 s runs, one failure
        history.run(n * 86_400, 10, C.FAILURE if n else C.SUCCESS)
    for n in range(4):  # current window: days 10-19, 20 s runs, all green
        history.run((10 + n) * 86_400, 20)
    report = history.report(tmp_path / "s.sqlite", days=10, end_s=20 * 86_400)
    workflow = report.workflows[0]
    assert workflow.previous.total_runs == 2 and workflow.metrics.total_runs == 4
    assert workflow.trend.total_runs == pytest.approx(1.0)
    assert workflow.trend.success_rate == pytest.approx(1.0)  # 50 % -> 100 %
    assert workflow.trend.p95_duration == pytest.approx(1.0)  # 10 s -> 20 s
    assert workflow.trend.failed_runs == pytest.approx(-1.0)
    assert report.trend.total_runs == pytest.approx(1.0)
    assert report.previous_window["end"] == report.window["start"]


def test_jobs_queue_and_run_wait(tmp_path: Path) -> None:
    history = History()
    for n, (wait_a, wait_b) in enumerate([(1, 9), (3, 7), (5, 5), (7, 3)]):
        history.run(n * 600, 100, jobs=[Job("a", 30, queue_s=wait_a), Job("b", 60, queue_s=wait_b)])
    workflow = history.report(tmp_path / "s.sqlite").workflows[0]
    jobs = {job.name: job.metrics for job in workflow.jobs}
    assert jobs["a"].queue_metrics.p50 == 4000 and jobs["a"].queue_metrics.p95 == 7000
    assert jobs["b"].duration_metrics.median == 60_000
    # A run's own wait is its first job's; both start together here, so the shorter
    # wait counts: 1, 3, 5, 3 s.
    queue = workflow.metrics.queue_metrics
    assert (queue.count, queue.p50, queue.p95) == (4, 3000, 5000)


def test_flaky_jobs_failed_and_passed_on_one_commit(tmp_path: Path) -> None:
    history = History()
    for sha in ("aaa", "bbb"):
        history.run(
            0,
            60,
            C.FAILURE,
            sha=sha,
            run_id=7 if sha == "aaa" else 8,
            jobs=[Job("test", 50, C.FAILURE), Job("lint", 5, C.FAILURE)],
        )
        history.run(
            100,
            60,
            C.SUCCESS,
            sha=sha,
            attempt=2,
            run_id=7 if sha == "aaa" else 8,
            jobs=[Job("test", 50, C.SUCCESS), Job("lint", 5, C.FAILURE)],
        )
    history.run(300, 60, C.FAILURE, sha="ccc", jobs=[Job("build", 5, C.FAILURE)])
    history.run(400, 60, C.SUCCESS, sha="ccc", jobs=[Job("build", 5, C.SUCCESS)])
    flaky = history.report(tmp_path / "s.sqlite").flaky_jobs
    assert [(job.name, job.flaky_commits, job.failures, job.successes) for job in flaky] == [
        ("test", 2, 2, 2),
        ("build", 1, 1, 1),
    ]
    assert flaky[0].workflow_key == ".github/workflows/ci.yml"


def test_branch_classes(tmp_path: Path) -> None:
    history = History()
    history.run(0, 10, branch="develop")
    history.run(10, 10, branch="main")
    history.run(20, 10, branch="feature/x", tags={"pr_number": 12})
    history.run(30, 10, branch="gh-readonly-queue/develop/pr-12-abc")
    history.run(40, 10, branch="trunk-merge/pr-13")
    history.run(50, 10, branch="dependabot/pip/x", tags={"actor": "dependabot[bot]"})
    history.run(60, 10, branch="bump", tags={"actor": "renovate[bot]"})
    history.run(70, 10, branch="PR-4")
    classes = history.report(tmp_path / "s.sqlite", default_branches=("develop",)).branch_classes
    assert {c.branch_class: c.metrics.total_runs for c in classes} == {
        "default_branch": 1,
        "pull_request": 2,
        "merge_queue": 2,
        "bot": 2,
        "other": 1,
    }


def test_slowest_steps_by_p95_and_by_total(tmp_path: Path) -> None:
    history = History()
    for n in range(10):
        history.run(
            n * 600,
            100,
            jobs=[Job("build", 90, steps=[("compile", 1 + 80 * (n == 9)), ("link", 30)])],
        )
    report = history.report(tmp_path / "s.sqlite", limit=1)
    assert [node.name for node in report.slowest_by_p95] == ["compile"]  # one 81 s outlier
    assert report.slowest_by_p95[0].p95_ms == 81_000
    assert [node.name for node in report.slowest_by_total] == ["link"]  # 300 s against 90
    assert report.slowest_by_total[0].total_ms == 300_000


def test_filters(tmp_path: Path) -> None:
    history = History()
    history.run(0, 10, branch="main", repo=("o", "a"))
    history.run(10, 10, branch="dev", repo=("o", "a"))
    history.run(20, 10, branch="main", repo=("o", "b"), platform="jenkins")
    path = tmp_path / "s.sqlite"
    assert history.report(path, repo="o/a").totals.total_runs == 2
    assert History().report(path, repo="github.com/o/a", branch="main").totals.total_runs == 1
    assert History().report(path, platform="jenkins").workflows[0].repo == "o/b"
    assert History().report(path, repo="x/y").workflows == []


def test_daily_points_cover_the_window(tmp_path: Path) -> None:
    history = History()
    history.run(0.5 * DAY / 1000, 10)
    history.run(0.6 * DAY / 1000, 30, C.FAILURE)
    daily = history.report(tmp_path / "s.sqlite", days=3, end_s=3 * 86_400).daily
    assert [d.date for d in daily] == ["2023-11-15", "2023-11-16", "2023-11-17"]
    assert (daily[0].total_runs, daily[0].success_rate) == (2, 0.5)
    assert (daily[0].duration_p50_ms, daily[0].duration_p95_ms) == (20_000, 30_000)
